"""Webhook endpoints and sync targets, and the events queued for them.

An event is an outbox row (kind ``webhook`` or ``sync``) written in the transaction of the
change it reports, one per endpoint that wants it: its JSON body and its ``webhook-id``
are fixed when queued, so every retry sends the same bytes under the same id.
``webhook_delivery`` sends them.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import (
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    WebhookEndpoint,
    utcnow,
)

CREATED = "subscription.created"
CONFIRMED = "subscription.confirmed"
UNSUBSCRIBED = "subscription.unsubscribed"
ERASED = "subscriber.erased"
EVENTS = (CREATED, CONFIRMED, UNSUBSCRIBED, ERASED)
# A sync target keeps a sender's list in step: unconfirmed signups are not its business.
SYNC_EVENTS = (CONFIRMED, UNSUBSCRIBED, ERASED)
WEBHOOK = "webhook"
LISTMONK = "listmonk"
DELIVERY_KINDS = ("webhook", "sync")
TEST_ADDRESS = "test@example.com"


class InvalidEndpoint(ValueError):
    """The endpoint's URL or events cannot be used; the message says why."""


class UnknownEndpoint(LookupError):
    """No endpoint has that id."""


@dataclass(frozen=True)
class Delivery:
    """One line of an endpoint's delivery log."""

    id: int
    event: str
    webhook_id: str | None
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


def add_webhook(session: Session, url: str, events: list[str] | None = None) -> WebhookEndpoint:
    """Add a webhook endpoint with a new secret (``whsec_`` + base64); return it."""
    chosen = _check_events(events or list(EVENTS))
    endpoint = WebhookEndpoint(
        kind=WEBHOOK, url=_check_url(url), events=",".join(chosen), created_at=utcnow(),
        secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    )
    session.add(endpoint)
    session.commit()
    return endpoint


def add_listmonk(session: Session, url: str, *, list_id: int, api_user: str,
                 api_token: str) -> WebhookEndpoint:
    """Add a listmonk instance whose list ``list_id`` is kept in step with ours."""
    if list_id < 1 or not api_user.strip() or not api_token.strip():
        raise InvalidEndpoint("A listmonk target needs a list id, an API user and its token.")
    endpoint = WebhookEndpoint(
        kind=LISTMONK, url=_check_url(url).rstrip("/"), events=",".join(SYNC_EVENTS),
        list_id=list_id, api_user=api_user.strip(), api_token=api_token.strip(),
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.commit()
    return endpoint


def all_endpoints(session: Session) -> list[WebhookEndpoint]:
    """Return every endpoint and sync target, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Return the endpoint with that id or raise UnknownEndpoint."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise UnknownEndpoint(endpoint_id)
    return endpoint


def remove_endpoint(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint; its queued deliveries go with it."""
    session.delete(get_endpoint(session, endpoint_id))
    session.commit()


def resume_endpoint(session: Session, endpoint_id: int) -> None:
    """Un-pause an endpoint: its waiting deliveries are tried again at once."""
    endpoint = get_endpoint(session, endpoint_id)
    endpoint.paused_at = None
    endpoint.failing_since = None
    now = utcnow()
    for row in session.scalars(select(OutboxMessage).where(
            OutboxMessage.endpoint_id == endpoint.id,
            OutboxMessage.status == OutboxStatus.pending)):
        row.next_attempt_at = now
    session.commit()


def send_test_event(session: Session, endpoint_id: int) -> None:
    """Queue a ``subscription.created`` event about a made-up reader for one endpoint."""
    endpoint = get_endpoint(session, endpoint_id)
    data = {"email": TEST_ADDRESS, "newsletter": "test", "status": "pending", "name": None,
            "test": True}
    session.add(_row(endpoint, _body(CREATED, data), subscriber_id=None, subscription_id=None,
                     recipient=TEST_ADDRESS))
    session.commit()


def deliveries(session: Session, endpoint_id: int, limit: int = 50) -> list[Delivery]:
    """Return the latest deliveries to an endpoint, newest first."""
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.endpoint_id == endpoint_id)
        .order_by(OutboxMessage.id.desc()).limit(limit))
    return [Delivery(r.id, event_type(r.message), r.webhook_id, r.status, r.attempts,
                     r.last_error, r.created_at, r.sent_at, r.next_attempt_at) for r in rows]


def event_type(body: bytes) -> str:
    """Return the type of a queued event ("(erased)" once an erasure's body is forgotten)."""
    if not body:
        return "(erased)"
    return str(json.loads(body).get("type", "?"))


def emit(session: Session, event: str, subscription: Subscription) -> None:
    """Queue ``event`` about ``subscription`` for every endpoint that wants it (no commit)."""
    if not _wanting(session, event):  # most installations: no endpoint, nothing to build
        return
    data = subscription_data(subscription)
    _queue(session, event, data, subscriber_id=subscription.subscriber_id,
           subscription_id=subscription.id)


def emit_for_ids(session: Session, event: str, subscription_ids: list[int]) -> None:
    """Queue ``event`` about each of these subscriptions, as an import makes them (no commit)."""
    if not subscription_ids or not _wanting(session, event):
        return
    found = session.scalars(select(Subscription).where(Subscription.id.in_(subscription_ids))
                            .options(selectinload(Subscription.subscriber),
                                     selectinload(Subscription.newsletter))
                            .order_by(Subscription.id))
    for subscription in found:
        emit(session, event, subscription)


def emit_erased(session: Session, email: str, subscriptions: list[Subscription]) -> None:
    """Queue ``subscriber.erased``: after the erasure, so about no stored reader (no commit)."""
    data = {"email": email, "newsletter": None, "status": "erased",
            "newsletters": sorted(s.newsletter.slug for s in subscriptions)}
    _queue(session, ERASED, data, subscriber_id=None, subscription_id=None)


def subscription_data(subscription: Subscription) -> dict[str, Any]:
    """Return what an event says about a subscription."""
    return {
        "email": subscription.subscriber.email,
        "newsletter": subscription.newsletter.slug,
        "status": SubscriptionStatus(subscription.status).value,
        "name": subscription.name,
        "source": subscription.source,
        "created_at": _iso(subscription.created_at),
        "confirmed_at": _iso(subscription.confirmed_at),
        "unsubscribed_at": _iso(subscription.unsubscribed_at),
    }


def _queue(session: Session, event: str, data: dict[str, Any], *, subscriber_id: int | None,
           subscription_id: int | None) -> None:
    endpoints = _wanting(session, event)
    if not endpoints:
        return
    body = _body(event, data)
    session.add_all([_row(e, body, subscriber_id=subscriber_id, subscription_id=subscription_id,
                          recipient=str(data["email"])) for e in endpoints])


def _wanting(session: Session, event: str) -> list[WebhookEndpoint]:
    # Read once per transaction: an import emits thousands of events.
    transaction, cache = session.info.get("webhook_endpoints", (None, {}))
    if transaction is not session.get_transaction():
        cache = {}
        session.info["webhook_endpoints"] = (session.get_transaction(), cache)
    if event not in cache:
        query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
        cache[event] = [e.id for e in session.scalars(query) if event in e.event_types]
    return [e for e in (session.get(WebhookEndpoint, i) for i in cache[event]) if e]


def _row(endpoint: WebhookEndpoint, body: bytes, *, subscriber_id: int | None,
         subscription_id: int | None, recipient: str) -> OutboxMessage:
    return OutboxMessage(
        kind=WEBHOOK if endpoint.kind == WEBHOOK else "sync", endpoint_id=endpoint.id,
        subscriber_id=subscriber_id, subscription_id=subscription_id, recipient=recipient[:254],
        message=body, webhook_id=f"msg_{uuid.uuid4().hex}", status=OutboxStatus.pending,
        attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
    )


def _body(event: str, data: dict[str, Any]) -> bytes:
    payload = {"type": event, "timestamp": _iso(utcnow()), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpoint("The URL must start with http:// or https:// and name a host.")
    return url.strip()


def _check_events(events: list[str]) -> list[str]:
    chosen = [e.strip() for e in events if e.strip()]
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise InvalidEndpoint(f"Unknown event {', '.join(unknown) or '(none)'}; "
                              f"choose among {', '.join(EVENTS)}.")
    return list(dict.fromkeys(chosen))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
