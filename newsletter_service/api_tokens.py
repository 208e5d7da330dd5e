"""Bearer tokens of the API: created once, shown once, stored as SHA-256, revocable.

A token reads ``nl_<prefix>_<secret>``: the 8 hex digits of the prefix find the row, and
the SHA-256 of the whole token is compared in constant time. The secret has 256 bits, so
a fast hash is enough (nobody can guess it, unlike a password).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import commit_unique
from .models import ApiToken, utcnow

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
TOKEN_PATTERN = re.compile(r"^nl_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")


class InvalidApiToken(Exception):
    """The token is missing, malformed, unknown or revoked."""


class TokenNameError(ValueError):
    """The token's name is not acceptable or not known; the message says why."""


def create_token(session: Session, name: str) -> str:
    """Create a token called ``name`` and return it: the only time it is seen."""
    if not NAME_PATTERN.match(name):
        raise TokenNameError("A token name has 1 to 100 letters, digits, '.', '_', '@' or '-'.")
    prefix = secrets.token_hex(4)
    token = f"nl_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(name=name, prefix=prefix, token_hash=_digest(token),
                         created_at=utcnow()))
    commit_unique(session, TokenNameError(f"A token called '{name}' exists already."))
    return token


def revoke_token(session: Session, name: str) -> None:
    """Revoke the token called ``name``; it stops working at once."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise TokenNameError(f"There is no token called '{name}'.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.commit()


def all_tokens(session: Session) -> list[ApiToken]:
    """Return every token, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def authenticate(session: Session, token: str) -> ApiToken:
    """Return the live token row for ``token`` and note its use; raise InvalidApiToken."""
    match = TOKEN_PATTERN.match(token)
    if match is None:
        raise InvalidApiToken("malformed")
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == match.group(1)))
    if row is None or not hmac.compare_digest(row.token_hash, _digest(token)):
        raise InvalidApiToken("unknown")
    if row.revoked_at is not None:
        raise InvalidApiToken("revoked")
    row.last_used_at = utcnow()
    session.commit()
    return row


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
