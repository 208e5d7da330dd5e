"""Email addresses: the one place where input becomes a normalized address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from flask_babel import gettext as _
from flask_babel import ngettext

MAX_ADDRESS_LENGTH = 254


class InvalidAddress(ValueError):
    """The input is not an address we can send to; the message says why."""


@dataclass(frozen=True)
class Address:
    """A normalized address and the key that identifies its reader."""

    email: str  # email-validator's normalized form, where mail is sent
    key: str  # lower-cased: addresses compare case-insensitively


def normalize_address(raw: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``raw`` and return its normalized form, or raise InvalidAddress."""
    text = raw.strip()
    if not check_deliverability and (known := _fast_normalize(text)) is not None:
        return known
    if not text:
        raise InvalidAddress(_("Enter your email address."))
    # Checked before parsing, so megabytes of input cost nothing; also re-checked below.
    if len(text) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(too_long_message())
    try:
        # strict: also refuse local parts over 64 characters (RFC 5321 4.5.3.1.1).
        result = validate_email(text, check_deliverability=check_deliverability, strict=True)
    except EmailNotValidError as error:
        raise InvalidAddress(_our_message(error)) from None
    local, _at, domain = result.normalized.rpartition("@")
    normalized = f"{local}@{domain.lower()}"
    return Address(email=normalized, key=normalized.lower())


# An ASCII dot-atom (email-validator's DOT_ATOM_TEXT) and a domain with none of the
# characters that make email-validator split an address differently (quotes, brackets,
# white space, a second @-sign): the shape of nearly every real address.
_SIMPLE = re.compile(r"([a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+)*)"
                     r"@([^\s\"<>()\[\]\\@,;:]+)\Z")
MAX_LOCAL_LENGTH = 64


def _fast_normalize(text: str) -> Address | None:
    """Return what ``validate_email`` would make of a plain address, or None to ask it.

    It refuses nothing: None sends the address through email-validator in full. Of a
    plain address (ASCII dot-atom, strictly at most 64 characters, no mailbox name that
    email-validator lower-cases) only the domain needs email-validator's work (IDNA, UTS
    #46, label rules), and that is the same for every address of the domain: cached.
    """
    simple = _SIMPLE.match(text)
    if simple is None:
        return None
    local, domain = simple.groups()
    if len(local) > MAX_LOCAL_LENGTH or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    forms = _domain_forms(domain)
    if forms is None:
        return None
    lowered_domain, domain_length = forms
    # email-validator's length checks: the input, the normalized and the ASCII form.
    if len(local) + domain_length > MAX_ADDRESS_LENGTH:
        return None
    email = f"{local}@{lowered_domain}"
    return Address(email=email, key=email.lower())


@lru_cache(maxsize=4096)
def _domain_forms(domain: str) -> tuple[str, int] | None:
    """Return a domain as email-validator normalizes it, lower-cased, and the length that
    it and "@" add to the longest of the forms email-validator checks; None if refused."""
    try:
        # A one-letter local part: only the domain can be refused.
        probe = validate_email(f"a@{domain}", check_deliverability=False, strict=True)
    except EmailNotValidError:
        return None
    # The local part is ASCII: as many bytes in every form as it has characters.
    longest = max(len(domain.encode()), len(probe.domain.encode()), len(probe.ascii_domain))
    return probe.domain.lower(), 1 + longest


def too_long_message() -> str:
    """Return the message for an address over the length limit, in the language spoken now."""
    return ngettext("An email address has at most %(num)d character.",
                    "An email address has at most %(num)d characters.", MAX_ADDRESS_LENGTH)


def _our_message(error: EmailNotValidError) -> str:
    # email-validator speaks English only: its messages map to ours, which are translated.
    # The English texts are email-validator's own where it has a common one.
    said = str(error)
    if isinstance(error, EmailUndeliverableError):
        return _("The domain after the @-sign does not accept email.")
    if said == "An email address must have an @-sign.":
        return _("An email address must have an @-sign.")
    if said == "There must be something before the @-sign.":
        return _("There must be something before the @-sign.")
    if said == "There must be something after the @-sign.":
        return _("There must be something after the @-sign.")
    if said.startswith("The email address is too long before the @-sign"):
        return _("The email address is too long before the @-sign.")
    if said.startswith("The email address is too long"):
        return _("The email address is too long.")
    if said.endswith("It should have a period."):
        return _("The part after the @-sign is not valid. It should have a period.")
    if "invalid character" in said or "unsafe character" in said or "not valid ASCII" in said:
        return _("The email address contains invalid characters.")
    if "after the @-sign" in said or "After the @-sign" in said:
        return _("The part after the @-sign is not valid.")
    if "before the @-sign" in said:
        return _("The part before the @-sign is not valid.")
    return _("This is not a valid email address.")


GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(address: str) -> str:
    """Return the mailbox an address reaches, for throttles only (readers stay separate).

    Lower-cased, ``+tag`` removed, and for Gmail dots removed and googlemail.com joined to
    gmail.com: ``V.i.c.t.i.m+2@GoogleMail.com`` and ``victim@gmail.com`` are one mailbox.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"
