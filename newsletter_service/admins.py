"""The use cases of the console's people: admins, their logins (slowly when guessed at), sessions.

Passwords are hashed with Argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane). Every login
attempt is first written as a failure in ``login_failures`` (a reservation), counted per
address and IP and per IP under a lock, and only then is the password checked, outside any
transaction: a client over its limit is refused before its password is checked, however many
tries it sends at once, and one client's failures never refuse another's right password.
A console session carries its admin's ``session_version``; bumping it ends every session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from .addresses import InvalidAddress, normalize_address
from .db import commit_unique
from .models import Admin, LoginFailure, utcnow
from .sources import clean_ip

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
UNKNOWN_IP = "unknown"

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)
log = logging.getLogger(__name__)


class InvalidAdmin(ValueError):
    """The admin's address or password is not acceptable, or no such admin; says why."""


class LoginFailed(Exception):
    """The address or the password is wrong (which one is not said)."""


class TooManyAttempts(Exception):
    """Logins from this client failed too often lately; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins")
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Attempt:
    """A login attempt reserved as a failure, with what checking its password needs."""

    admin_id: int | None
    password_hash: str
    pair_failures: int  # of this address from this IP in the window, this one included
    ip_failures: int  # of this IP, whatever the address


def create_admin(session: Session, email: str, password: str) -> Admin:
    """Create an admin with a hashed password; raise InvalidAdmin when refused."""
    try:
        address = normalize_address(email)
    except InvalidAddress as error:
        raise InvalidAdmin(str(error)) from None
    admin = Admin(email=address.key, password_hash=_hash(password), created_at=utcnow())
    session.add(admin)
    commit_unique(session, InvalidAdmin(f"An admin {address.key} exists already."))
    return admin


def set_password(session: Session, email: str, password: str) -> Admin:
    """Give the admin a new password and end their sessions; raise InvalidAdmin."""
    password_hash = _hash(password)  # Argon2 before the write transaction, not under it
    admin = _admin_by_email(session, email)
    admin.password_hash = password_hash
    admin.session_version = Admin.session_version + 1  # in SQL: no lost update
    session.commit()
    return admin


def set_disabled(session: Session, email: str, disabled: bool) -> Admin:
    """Disable (or enable again) an admin; either way their sessions end. Raise InvalidAdmin."""
    admin = _admin_by_email(session, email)
    admin.is_disabled = disabled
    admin.session_version = Admin.session_version + 1
    session.commit()
    return admin


def end_sessions(session: Session, admin_id: int) -> None:
    """End every console session of the admin (a logout)."""
    session.execute(update(Admin).where(Admin.id == admin_id)
                    .values(session_version=Admin.session_version + 1))
    session.commit()


def session_admin(session: Session, admin_id: int, version: int) -> Admin | None:
    """Return the admin of a console session, unless the session was ended or they disabled."""
    admin = session.get(Admin, admin_id)
    if admin is None or admin.is_disabled or admin.session_version != version:
        return None
    return admin


def log_in(session: Session, email: str, password: str, ip: str | None) -> Admin:
    """Return the admin whose address and password these are; raise LoginFailed or TooMany."""
    key, client = email.strip().lower()[:254], clean_ip(ip) or UNKNOWN_IP
    attempt = _reserve_attempt(session, key, client)
    # Argon2 is slow: it runs with no transaction open, so it holds no lock.
    valid = _verify(attempt.password_hash, password)
    if attempt.admin_id is None or not valid:
        _log_lockout(attempt, client)
        raise LoginFailed()
    new_hash = HASHER.hash(password) if HASHER.check_needs_rehash(attempt.password_hash) else None
    admin = session.get(Admin, attempt.admin_id, populate_existing=True)
    if admin is None or admin.is_disabled or admin.password_hash != attempt.password_hash:
        session.rollback()  # disabled, or a new password, since the reservation
        raise LoginFailed()
    admin.password_hash = new_hash or admin.password_hash
    admin.last_login_at = utcnow()
    # The reservation and this client's earlier failures for the address are forgotten.
    session.execute(delete(LoginFailure).where(_pair(key, client)))
    session.commit()
    return admin


def _reserve_attempt(session: Session, key: str, client: str) -> _Attempt:
    """Write the attempt as a failure and commit it, unless the client failed too often."""
    config = current_app.config
    now = utcnow()
    window = timedelta(seconds=config["ADMIN_LOGIN_WINDOW_SECONDS"])
    since = now - window
    _lock(session, f"newsletter-service.login:{client}")  # this IP's attempts, one at a time
    session.add(LoginFailure(email=key, ip=client, at=now))
    session.flush()
    pair_failures, pair_oldest = _failures(session, _pair(key, client), since)
    ip_failures, ip_oldest = _failures(session, LoginFailure.ip == client, since)
    # Counts include the reservation: over the limit means the limit was reached before.
    over = [oldest for count, limit, oldest in (
        (pair_failures, config["ADMIN_LOGIN_MAX_FAILURES"], pair_oldest),
        (ip_failures, config["ADMIN_LOGIN_MAX_FAILURES_PER_IP"], ip_oldest)) if count > limit]
    if over:
        session.rollback()  # a refused attempt is not counted: it checked no password
        wait = max(over) + window - now
        raise TooManyAttempts(max(1, int(wait.total_seconds()) + 1))
    admin = session.execute(select(Admin.id, Admin.password_hash).where(Admin.email == key)).first()
    session.commit()
    # An unknown address costs a verification too, so timing tells nothing either.
    return _Attempt(admin.id if admin else None,
                    admin.password_hash if admin else _dummy_hash(), pair_failures, ip_failures)


def _failures(session: Session, where: ColumnElement[bool],
              since: datetime) -> tuple[int, datetime]:
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(where, LoginFailure.at > since)
    ).one()
    return int(count), oldest


def _pair(key: str, client: str) -> ColumnElement[bool]:
    return (LoginFailure.email == key) & (LoginFailure.ip == client)


def _lock(session: Session, name: str) -> None:
    """Serialize the transactions that take the lock ``name`` until they end."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))
    # SQLite: every writing transaction begins IMMEDIATE (db.py): serialized already.


def _log_lockout(attempt: _Attempt, client: str) -> None:
    """Log when this failure makes the client reach a limit: the IP and admin id, no address."""
    config = current_app.config
    who = f"admin {attempt.admin_id}" if attempt.admin_id else "an address of no admin"
    if attempt.pair_failures == config["ADMIN_LOGIN_MAX_FAILURES"]:
        log.warning("console logins for %s from %s refused for a while after %d failures",
                    who, client, attempt.pair_failures)
    if attempt.ip_failures == config["ADMIN_LOGIN_MAX_FAILURES_PER_IP"]:
        log.warning("console logins from %s refused for a while after %d failures",
                    client, attempt.ip_failures)


def _admin_by_email(session: Session, email: str) -> Admin:
    try:
        key = normalize_address(email).key
    except InvalidAddress as error:
        raise InvalidAdmin(str(error)) from None
    admin = session.scalar(select(Admin).where(Admin.email == key))
    if admin is None:
        raise InvalidAdmin(f"There is no admin {key}.")
    return admin


def _hash(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidAdmin(f"A password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                           "characters.")
    return HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return HASHER.hash("not the password of anybody")
