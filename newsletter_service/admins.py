"""The use cases of the console's people: create an admin, log in (slowly when guessed at).

Passwords are hashed with Argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane). A failed
login is a row of ``login_failures``; after too many for one address within the window,
logins for it are refused before the password is even checked.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .addresses import InvalidAddress, normalize_address
from .db import commit_unique
from .models import Admin, LoginFailure, utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)


class InvalidAdmin(ValueError):
    """The new admin's address or password is not acceptable; the message says why."""


class LoginFailed(Exception):
    """The address or the password is wrong (which one is not said)."""


class TooManyAttempts(Exception):
    """Logins for this address failed too often lately; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins")
        self.retry_after = retry_after


def create_admin(session: Session, email: str, password: str) -> Admin:
    """Create an admin with a hashed password; raise InvalidAdmin when refused."""
    try:
        address = normalize_address(email)
    except InvalidAddress as error:
        raise InvalidAdmin(str(error)) from None
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidAdmin(f"A password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                           "characters.")
    admin = Admin(email=address.key, password_hash=HASHER.hash(password), created_at=utcnow())
    session.add(admin)
    commit_unique(session, InvalidAdmin(f"An admin {address.key} exists already."))
    return admin


def log_in(session: Session, email: str, password: str, ip: str | None) -> Admin:
    """Return the admin whose address and password these are; raise LoginFailed or TooMany."""
    key = email.strip().lower()[:254]
    _refuse_when_throttled(session, key)
    admin = session.scalar(select(Admin).where(Admin.email == key))
    # An unknown address costs a verification too, so timing tells nothing either.
    valid = _verify(admin.password_hash if admin else _dummy_hash(), password)
    if admin is None or not valid:
        session.add(LoginFailure(email=key, ip=ip, at=utcnow()))
        session.commit()
        raise LoginFailed()
    if HASHER.check_needs_rehash(admin.password_hash):
        admin.password_hash = HASHER.hash(password)
    admin.last_login_at = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.email == key))
    session.commit()
    return admin


def find_admin(session: Session, admin_id: int) -> Admin | None:
    """Return the admin with this id, if it still exists."""
    return session.get(Admin, admin_id)


def _refuse_when_throttled(session: Session, key: str) -> None:
    config = current_app.config
    window = timedelta(seconds=config["ADMIN_LOGIN_WINDOW_SECONDS"])
    recent = select(func.count(), func.min(LoginFailure.at)).where(
        LoginFailure.email == key, LoginFailure.at > utcnow() - window
    )
    count, oldest = session.execute(recent).one()
    if count >= config["ADMIN_LOGIN_MAX_FAILURES"]:
        wait = oldest + window - utcnow()
        raise TooManyAttempts(max(1, int(wait.total_seconds()) + 1))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return HASHER.hash("not the password of anybody")
