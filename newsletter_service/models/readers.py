"""Readers, their subscriptions, the consent events that prove them, and signups on their way."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..db import Base
from ..sources import clean_ip
from .types import (
    ConfirmMethod,
    ConsentEventKind,
    SubscriptionStatus,
    UTCDateTime,
    enum_column,
    new_manage_token,
    utcnow,
)

if TYPE_CHECKING:
    from .newsletters import Newsletter


class Subscriber(Base):
    """One reader, identified by the normalized address."""

    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("manage_token", name="uq_subscribers_manage_token"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # as normalized, where mail is sent
    # Lower-cased normalized address: Alice@Example.COM and alice@example.com are one reader.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    # The reader's preference-centre link: random, lasting, gone with the row when erased.
    manage_token: Mapped[str] = mapped_column(String(64), default=new_manage_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )


class Subscription(Base):
    """A subscriber's standing with one newsletter."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter_id"),
        Index("ix_subscriptions_newsletter_status", "newsletter_id", "status"),
        # In export order: an export of every status streams without sorting (0010).
        Index("ix_subscriptions_newsletter_id", "newsletter_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.pending
    )
    name: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(2048))  # the page the form was on
    consent_given: Mapped[bool] = mapped_column(default=False)
    consent_version: Mapped[int | None] = mapped_column()
    # Bumped when a link must stop working (unsubscribe, re-signup): tokens carry it.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    newsletter: Mapped[Newsletter] = relationship(back_populates="subscriptions")
    events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="subscription", order_by="ConsentEvent.id",
        cascade="all, delete-orphan", passive_deletes=True,
    )


class ConsentEvent(Base):
    """Proof of consent: who did what, when, from where, having been shown which text."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ConsentEventKind] = mapped_column(
        enum_column(ConsentEventKind, "consent_event_kind"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    source: Mapped[str | None] = mapped_column(String(2048))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_version: Mapped[int | None] = mapped_column()
    # Set on ``confirmed`` events: how the reader confirmed (the dashboard counts them).
    method: Mapped[ConfirmMethod | None] = mapped_column(
        enum_column(ConfirmMethod, "confirm_method"))

    subscription: Mapped[Subscription] = relationship(back_populates="events")

    @validates("ip")
    def _valid_ip(self, _key: str, value: str | None) -> str | None:
        # It may come from a forwarded header: keep it only if it is an address.
        return clean_ip(value)


class SignupRequest(Base):
    """A validated signup, stored in its request and carried out once answered (signup_queue)."""

    __tablename__ = "signup_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_ids: Mapped[str] = mapped_column(String(400))  # "3,1": in the reader's order
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    consent: Mapped[bool]
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    source: Mapped[str | None] = mapped_column(String(2048))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
