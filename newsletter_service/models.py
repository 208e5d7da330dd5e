"""The data model: newsletters, subscribers, subscriptions, consent events and the outbox."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .db import Base
from .sources import clean_ip


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


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable, and readable in SQL.
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


class Newsletter(Base):
    """A newsletter readers can sign up for, with its form's settings."""

    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    name_field: Mapped[FieldMode] = mapped_column(_enum(FieldMode, "field_mode"),
                                                  default=FieldMode.hidden)
    consent_text: Mapped[str | None] = mapped_column(Text)  # set: a required consent checkbox
    consent_version: Mapped[int] = mapped_column(default=1)
    success_title: Mapped[str] = mapped_column(String(200), default="Successfully subscribed")
    success_message: Mapped[str] = mapped_column(
        Text,
        default="Thank you for signing up for this newsletter. "
        "We've sent you a confirmation email.",
    )
    confirmation_subject: Mapped[str | None] = mapped_column(String(200))
    confirmation_text: Mapped[str | None] = mapped_column(Text)
    send_welcome: Mapped[bool] = mapped_column(default=True)
    one_click_confirm: Mapped[bool] = mapped_column(default=False)
    challenge: Mapped[str] = mapped_column(String(20), default="none")  # challenges.ChallengeKind
    allowed_origins: Mapped[str] = mapped_column(Text, default="")  # one origin a line
    return_url: Mapped[str | None] = mapped_column(String(2048))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    # Its form, pages and emails speak this language (i18n.LANGUAGES).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="newsletter")

    @property
    def asks_name(self) -> bool:
        return self.name_field is not FieldMode.hidden

    @property
    def origins(self) -> list[str]:
        return [line.strip() for line in self.allowed_origins.splitlines() if line.strip()]


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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.pending
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
    kind: Mapped[ConsentEventKind] = mapped_column(_enum(ConsentEventKind, "consent_event_kind"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    source: Mapped[str | None] = mapped_column(String(2048))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_version: Mapped[int | None] = mapped_column()
    # Set on ``confirmed`` events: how the reader confirmed (the dashboard counts them).
    method: Mapped[ConfirmMethod | None] = mapped_column(_enum(ConfirmMethod, "confirm_method"))

    subscription: Mapped[Subscription] = relationship(back_populates="events")

    @validates("ip")
    def _valid_ip(self, _key: str, value: str | None) -> str | None:
        # It may come from a forwarded header: keep it only if it is an address.
        return clean_ip(value)


class OutboxMessage(Base):
    """An email written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_subscriber_created", "subscriber_id", "created_at"),
        Index("ix_outbox_mailbox_created", "mailbox_key", "created_at"),
        Index("ix_outbox_domain_sent", "recipient_domain", "sent_at"),
        Index("ix_outbox_endpoint_subscriber", "endpoint_id", "subscriber_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # confirm, welcome, ...
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    recipient: Mapped[str] = mapped_column(String(254))
    # The envelope sender (MAIL FROM): the From address. NULL only on rows sent before 0005.
    sender: Mapped[str | None] = mapped_column(String(254))
    message: Mapped[bytes] = mapped_column(LargeBinary)  # the rendered RFC 5322 message
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Confirmations: the mailbox reached (addresses.mailbox_key) and its domain, so the
    # throttle counts one mailbox and the worker caps each domain per hour.
    mailbox_key: Mapped[str | None] = mapped_column(String(254))
    recipient_domain: Mapped[str | None] = mapped_column(String(253))
    # A webhook or sync delivery (kind "webhook" or "sync"): its endpoint, and the
    # webhook-id it keeps on every retry. ``message`` is then the JSON body.
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[str | None] = mapped_column(String(64))


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


class ErasedSubscription(Base):
    """What is left of an erased subscription: no person, only the day-rounded dates for counts."""

    __tablename__ = "erased_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(
        ForeignKey("newsletters.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuppressedAddress(Base):
    """The SHA-256 of an erased address, so imports and the API never add it back."""

    __tablename__ = "suppressed_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedChallenge(Base):
    """A solved proof-of-work challenge, kept until it expires so it is accepted once."""

    __tablename__ = "used_challenges"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SuppressionReason(enum.StrEnum):
    """Why an address gets no more email from us."""

    bounce = "bounce"
    complaint = "complaint"
    manual = "manual"


class Suppression(Base):
    """An address that gets no email from us: it bounced, complained, or an admin said so."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the lower-cased normalized address (privacy.suppression_key): what is checked.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))  # blanked when the reader is erased
    reason: Mapped[SuppressionReason] = mapped_column(
        _enum(SuppressionReason, "suppression_reason")
    )
    detail: Mapped[str | None] = mapped_column(Text)  # e.g. the DSN's status and diagnostic
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """Where subscription events go: a signed webhook, or a sync target such as listmonk."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="webhook")  # webhook | listmonk
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str | None] = mapped_column(String(100))  # whsec_..., webhooks only
    events: Mapped[str] = mapped_column(Text)  # comma-separated event types
    list_id: Mapped[int | None] = mapped_column()  # listmonk: the list to keep in step
    api_user: Mapped[str | None] = mapped_column(String(200))
    api_token: Mapped[str | None] = mapped_column(String(500))  # a secret: never logged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def event_types(self) -> list[str]:
        return [e for e in self.events.split(",") if e]


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
