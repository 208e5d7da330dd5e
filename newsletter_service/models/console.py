"""The console's accounts, login failures, API tokens and the export log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .types import (
    UTCDateTime,
    utcnow,
)

if TYPE_CHECKING:
    from .newsletters import Newsletter


class Admin(Base):
    """Someone who may use the console; signs in with email and password."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased, normalized
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Console sessions carry it; bumped (logout, new password, disabling) to end them all.
    session_version: Mapped[int] = mapped_column(default=1)
    is_disabled: Mapped[bool] = mapped_column(default=False)


class LoginFailure(Base):
    """A failed console login (or one being checked), counted to slow down password guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_ip_at", "email", "ip", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # as typed, lower-cased
    ip: Mapped[str] = mapped_column(String(45))  # "unknown" when the server cannot tell
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token of the API; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # finds the row to compare
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExportLog(Base):
    """Who exported which subscribers, when and how: exports are personal data."""

    __tablename__ = "export_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(300))  # "admin a@b.c", "token ci", "cli"
    newsletter_id: Mapped[int | None] = mapped_column(
        ForeignKey("newsletters.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))  # a SubscriptionStatus or "all"
    format: Mapped[str] = mapped_column(String(10))
    row_count: Mapped[int | None] = mapped_column()  # None: streamed, not counted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    newsletter: Mapped[Newsletter | None] = relationship()
