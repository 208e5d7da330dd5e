"""The outbox (emails, webhook and sync events), webhook endpoints, suppressions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import (
    OutboxStatus,
    SuppressionReason,
    UTCDateTime,
    enum_column,
    utcnow,
)


class OutboxMessage(Base):
    """An email written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The claims read due rows in this order (0011: with id, so PostgreSQL need not sort).
        Index("ix_outbox_due", "status", "next_attempt_at", "id"),
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
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.pending
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


class Suppression(Base):
    """An address that gets no email from us: it bounced, complained, or an admin said so."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the lower-cased normalized address (privacy.suppression_key): what is checked.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))  # blanked when the reader is erased
    reason: Mapped[SuppressionReason] = mapped_column(
        enum_column(SuppressionReason, "suppression_reason")
    )
    detail: Mapped[str | None] = mapped_column(Text)  # e.g. the DSN's status and diagnostic
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
