"""Build the service's emails from ``templates/email/*``, overridable per newsletter.

Emails are rendered when they are queued; the worker only sends bytes. Headers go
through the standard library's ``email`` package, which refuses CR/LF in any header,
so nothing a reader types can add a header.

Building a message costs milliseconds, and a newsletter's emails differ between readers
only in the recipient, the date, the Message-ID and the links: ``confirmation_bytes`` and
``welcome_bytes`` build each newsletter's message once with markers in those places and
stamp every reader's values into its bytes (stamping.py). The cache is per process, keyed
by every column of the newsletters and the sender settings, so an edit builds anew; in debug
(templates reload) every message is built in full.

An address with a non-ASCII local part (``josé@example.com``) can only be written as
UTF-8 (RFC 6531): such a message is serialized with the SMTPUTF8 policy, and the mailer
asks the relay for SMTPUTF8. Every other message stays ASCII (RFC 2047 encoded words,
an IDNA domain), which any relay accepts.
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable, Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from operator import itemgetter
from typing import Any

import idna
from flask import current_app
from flask_babel import force_locale

from . import i18n
from .models import Newsletter, utcnow
from .outbox import RenderedEmail
from .stamping import StampedMessage, StampError, marker, prepare

# Longest line a 7bit or 8bit body may have (RFC 5322); longer ones need an encoding.
MAX_LINE = 998
STAMP_CACHE_SIZE = 256
# Shapes the per-reader values take while a message is built once for stamping.
DATE_MARKER = "Sat, 01 Jan 2000 00:00:00 +0000"


def confirmation_bytes(newsletters: list[Newsletter], to: str, confirm_url: str,
                       code: str | None = None, not_me_url: str | None = None) -> RenderedEmail:
    """Return the confirmation email for ``to``, stamped into a once-built message."""
    values = {"confirm_url": confirm_url, "code": code, "not_me_url": not_me_url}
    return _stamped("confirm", newsletters, to, {k: v for k, v in values.items() if v},
                    lambda values: confirmation_email(newsletters[0], values["to"],
                                                      values["confirm_url"], newsletters,
                                                      code=values.get("code"),
                                                      not_me_url=values.get("not_me_url"),
                                                      _fixed=values))


def welcome_bytes(newsletter: Newsletter, to: str, unsubscribe_url: str,
                  manage_url: str) -> RenderedEmail:
    """Return the welcome email for ``to``, stamped into a once-built message."""
    links = {"unsubscribe_url": unsubscribe_url, "manage_url": manage_url}
    return _stamped("welcome", [newsletter], to, links,
                    lambda values: welcome_email(newsletter, values["to"],
                                                 values["unsubscribe_url"],
                                                 values["manage_url"], _fixed=values))


def as_bytes(message: EmailMessage) -> bytes:
    """Serialize with the message's own policy and the CRLF line ends SMTP sends."""
    return RenderedEmail.of(message).raw


def confirmation_email(newsletter: Newsletter, to: str, confirm_url: str,
                       newsletters: list[Newsletter] | None = None, code: str | None = None,
                       not_me_url: str | None = None,
                       _fixed: Mapping[str, str] | None = None) -> EmailMessage:
    """Return the double opt-in email; it repeats nothing the reader typed but the address."""
    return _build(
        "confirm", newsletter, to, _fixed,
        confirm_url=confirm_url, code=code, not_me_url=not_me_url,
        newsletters=newsletters or [newsletter],
        custom_subject=newsletter.confirmation_subject,
        custom_text=newsletter.confirmation_text,
    )


def welcome_email(newsletter: Newsletter, to: str, unsubscribe_url: str,
                  manage_url: str | None = None,
                  _fixed: Mapping[str, str] | None = None) -> EmailMessage:
    """Return the email sent once a subscription is confirmed, with one-click unsubscribe.

    ``manage_url`` is the reader's preference centre, linked beside the unsubscribe link.
    """
    message = _build("welcome", newsletter, to, _fixed, unsubscribe_url=unsubscribe_url,
                     manage_url=manage_url)
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _stamped(kind: str, newsletters: list[Newsletter], to: str, links: dict[str, str],
             build: Callable[[Mapping[str, str]], EmailMessage]) -> RenderedEmail:
    config = current_app.config
    recipient, policy = recipient_address(to)
    envelope = recipient.addr_spec
    values = {"to": envelope, "date": _date_now(),
              "message_id": make_msgid(domain=_message_id_domain()), **links}
    template = _stamp_template(kind, newsletters, bool(policy.utf8), list(links), build)
    if template is None:  # debug, or a message that cannot be stamped: built in full
        return RenderedEmail(as_bytes(build(values)), envelope, config["MAIL_FROM"])
    return RenderedEmail(template.stamp(values), envelope, config["MAIL_FROM"])


def _stamp_template(kind: str, newsletters: list[Newsletter], utf8: bool, links: list[str],
                    build: Callable[[Mapping[str, str]], EmailMessage]) -> StampedMessage | None:
    if current_app.jinja_env.auto_reload:
        return None
    config = current_app.config
    key = (kind, utf8, tuple(links), config["MAIL_FROM"], config.get("MAIL_REPLY_TO"),
           tuple(_fingerprint(n) for n in newsletters))
    cache: dict[Any, StampedMessage | None] = current_app.extensions.setdefault(
        "email_stamps", {})
    if key not in cache:
        if len(cache) >= STAMP_CACHE_SIZE:
            cache.clear()
        # The recipient's marker has a non-ASCII local part exactly when the reader's has:
        # the once-built message then has the reader's policy (UTF-8 headers or ASCII).
        local = f"{marker()}é" if utf8 else marker()
        markers = {"to": f"{local}@stamp.invalid", "date": DATE_MARKER,
                   "message_id": f"<{marker()}@stamp.invalid>",
                   **{name: f"https://stamp.invalid/{marker()}" for name in links}}
        try:
            cache[key] = prepare(lambda values: as_bytes(build(values)), markers, utf8)
        except StampError:
            cache[key] = None  # e.g. a custom text with a line over 998 characters
    return cache[key]


_COLUMNS = tuple(column.key for column in Newsletter.__table__.columns)
_LOADED_COLUMNS = itemgetter(*_COLUMNS)


def _fingerprint(newsletter: Newsletter) -> tuple[Any, ...]:
    """Return every column of a newsletter: any edit makes a new cache key."""
    # Loaded values straight from the instance, in one call (getattr costs ~0.5 µs a
    # column, the stamp itself a few); an expired or deferred column is loaded by getattr.
    try:
        return tuple(_LOADED_COLUMNS(newsletter.__dict__))
    except KeyError:
        return tuple(getattr(newsletter, key) for key in _COLUMNS)


def _build(kind: str, newsletter: Newsletter, to: str, fixed: Mapping[str, str] | None,
           **context: Any) -> EmailMessage:
    context["newsletter"] = newsletter
    # In the newsletter's language, whether a request (of any language) or the worker asks.
    with force_locale(i18n.known_language(newsletter.language)):
        subject = _render(kind, newsletter, "subject.txt", context).strip()
        text = _render(kind, newsletter, "txt", context)
        rich = _render(kind, newsletter, "html", context)
    custom_subject = context.get("custom_subject")
    recipient, policy = recipient_address(to)
    message = EmailMessage(policy=policy)
    # Whitespace folded: a line break saved before settings refused control characters
    # must not break every signup of that newsletter.
    message["Subject"] = " ".join((custom_subject or subject).split())
    message["From"] = _sender(newsletter)
    message["To"] = recipient
    reply_to = newsletter.reply_to or current_app.config.get("MAIL_REPLY_TO")
    if reply_to:
        message["Reply-To"] = Address(addr_spec=reply_to)
    message["Date"] = fixed["date"] if fixed else format_datetime(utcnow())
    message["Message-ID"] = fixed["message_id"] if fixed else make_msgid(
        domain=_message_id_domain())
    message.set_content(text, cte=_transfer_encoding(text, policy))
    message.add_alternative(rich, subtype="html", cte=_transfer_encoding(rich, policy))
    return message


def _transfer_encoding(body: str, policy: EmailPolicy[EmailMessage]) -> str | None:
    """Return 7bit or 8bit, so a body holds its text (and a stamp's markers) literally.

    Only a line too long for either leaves the choice to the ``email`` package
    (quoted-printable or base64); such a message is then built in full for every reader.
    """
    if any(len(line.encode()) > MAX_LINE for line in body.splitlines()):
        return None
    return "7bit" if body.isascii() and not policy.utf8 else "8bit"


def _date_now() -> str:
    """Return the Date header's value for now (one formatting per second, not per email)."""
    now = utcnow().replace(microsecond=0)
    cached = _DATE_CACHE.get(now)
    if cached is None:
        _DATE_CACHE.clear()
        cached = _DATE_CACHE[now] = format_datetime(now)
    return cached


_DATE_CACHE: dict[datetime, str] = {}


def _message_id_domain() -> str:
    return _domain_of(current_app.config["MAIL_FROM"])


@lru_cache(maxsize=16)
def _domain_of(sender: str) -> str:
    # Parsing an address costs tens of microseconds; the sender is a setting.
    return Address(addr_spec=sender).domain or "localhost"


def recipient_address(to: str) -> tuple[Address, EmailPolicy[EmailMessage]]:
    """Return ``to`` as a header address, and the policy its message must be written with."""
    local, _, domain = to.rpartition("@")
    if local.isascii():
        # A Unicode domain has an ASCII form (IDNA): the message needs no SMTPUTF8.
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode()
        return Address(username=local, domain=ascii_domain), email.policy.SMTP
    # Address(addr_spec=...) refuses a non-ASCII local part; built from its parts it is kept.
    return Address(username=local, domain=domain), email.policy.SMTPUTF8


def _sender(newsletter: Newsletter) -> Address:
    return Address(display_name=" ".join(newsletter.name.split()),
                   addr_spec=current_app.config["MAIL_FROM"])


def _render(kind: str, newsletter: Newsletter, suffix: str, context: dict[str, Any]) -> str:
    # templates/email/<slug>/<kind>.<suffix> overrides templates/email/<kind>.<suffix>.
    separator = "_" if suffix == "subject.txt" else "."
    names = [f"email/{newsletter.slug}/{kind}{separator}{suffix}",
             f"email/{kind}{separator}{suffix}"]
    template = current_app.jinja_env.select_template(names)
    return template.render(**context)
