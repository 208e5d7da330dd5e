"""What the tables share: UTC times, tokens, and the enumerations stored in columns."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    Enum,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_manage_token() -> str:
    """Return a new reader's preference-centre token (256 random bits)."""
    return secrets.token_urlsafe(32)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(cls: type[enum.Enum], name: str) -> Enum:
    """Return the column type of an enumeration: its values as strings, checked."""
    # Stored as plain strings with a CHECK constraint: portable, and readable in SQL.
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


class FieldMode(enum.StrEnum):
    """Whether a signup form asks for a field, and whether it must be filled."""

    hidden = "hidden"
    optional = "optional"
    required = "required"


class SubscriptionStatus(enum.StrEnum):
    """The life of a subscription: pending until confirmed, then maybe unsubscribed."""

    pending = "pending"
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class ConsentEventKind(enum.StrEnum):
    """What a reader did, kept as proof of consent."""

    subscribed = "subscribed"
    confirmation_resent = "confirmation_resent"
    imported = "imported"  # added by an import: consent was given elsewhere
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class ConfirmMethod(enum.StrEnum):
    """How a reader confirmed: the emailed code, the link's button, or opening the link."""

    code = "code"
    link = "link"
    one_click = "one_click"


class OutboxStatus(enum.StrEnum):
    """Delivery state of a queued email."""

    pending = "pending"
    sent = "sent"
    failed = "failed"


class SuppressionReason(enum.StrEnum):
    """Why an address gets no more email from us."""

    bounce = "bounce"
    complaint = "complaint"
    manual = "manual"
