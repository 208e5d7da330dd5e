"""What shields the confirmation email: its codes, "this wasn't me" blocks, used challenges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import (
    UTCDateTime,
    utcnow,
)


class ConfirmationCode(Base):
    """The 6-digit code of one confirmation email, kept as an HMAC, bound to its subscriptions."""

    __tablename__ = "confirmation_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    # "id:version id:version": the subscriptions the email was for, as its link names them.
    targets: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(default=0)  # wrong codes typed for this address
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotMeBlock(Base):
    """A mailbox whose owner said "this wasn't me": no confirmation emails to it until ``until``."""

    __tablename__ = "not_me_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_key: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime)


class UsedChallenge(Base):
    """A solved proof-of-work challenge, kept until it expires so it is accepted once."""

    __tablename__ = "used_challenges"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
