"""Build the service's emails from ``templates/email/*``, overridable per newsletter.

Emails are rendered when they are queued; the worker only sends bytes. Headers go
through the standard library's ``email`` package, which refuses CR/LF in any header,
so nothing a reader types can add a header.

An address with a non-ASCII local part (``josé@example.com``) can only be written as
UTF-8 (RFC 6531): such a message is serialized with the SMTPUTF8 policy, and the mailer
asks the relay for SMTPUTF8. Every other message stays ASCII (RFC 2047 encoded words,
an IDNA domain), which any relay accepts.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from typing import Any

import idna
from flask import current_app

from .models import Newsletter, utcnow


def confirmation_email(newsletter: Newsletter, to: str, confirm_url: str,
                       newsletters: list[Newsletter] | None = None) -> EmailMessage:
    """Return the double opt-in email; it repeats nothing the reader typed but the address."""
    return _build(
        "confirm", newsletter, to,
        confirm_url=confirm_url,
        newsletters=newsletters or [newsletter],
        custom_subject=newsletter.confirmation_subject,
        custom_text=newsletter.confirmation_text,
    )


def welcome_email(newsletter: Newsletter, to: str, unsubscribe_url: str) -> EmailMessage:
    """Return the email sent once a subscription is confirmed, with one-click unsubscribe."""
    message = _build("welcome", newsletter, to, unsubscribe_url=unsubscribe_url)
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _build(kind: str, newsletter: Newsletter, to: str, **context: Any) -> EmailMessage:
    context["newsletter"] = newsletter
    subject = _render(kind, newsletter, "subject.txt", context).strip()
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
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=_sender(newsletter).domain or "localhost")
    message.set_content(_render(kind, newsletter, "txt", context))
    message.add_alternative(_render(kind, newsletter, "html", context), subtype="html")
    return message


def recipient_address(to: str) -> tuple[Address, EmailPolicy]:
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
