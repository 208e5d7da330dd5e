"""Email addresses: the one place where input becomes a normalized address."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

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
    if not text:
        raise InvalidAddress("Enter your email address.")
    # Checked before parsing, so megabytes of input cost nothing; also re-checked below.
    if len(text) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"An email address has at most {MAX_ADDRESS_LENGTH} characters.")
    try:
        # strict: also refuse local parts over 64 characters (RFC 5321 4.5.3.1.1).
        result = validate_email(text, check_deliverability=check_deliverability, strict=True)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    local, _, domain = result.normalized.rpartition("@")
    normalized = f"{local}@{domain.lower()}"
    return Address(email=normalized, key=normalized.lower())
