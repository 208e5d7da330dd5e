"""The suppression list itself: record an address, look addresses up (no use case here).

The outbox reads it before sending and writes to it when the relay refuses a recipient
for good; ``suppressions`` builds the use cases (complaints, DSNs, the API) on top.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import insert_for
from .models import Suppression, SuppressionReason, utcnow
from .privacy import suppression_key

MAX_DETAIL = 2000


def record(session: Session, email: str, key: str, reason: SuppressionReason,
           detail: str | None = None) -> bool:
    """Add the address to the list in the caller's transaction; True if it was not there."""
    return session.execute(
        insert_for(session)(Suppression)
        .values(key_hash=suppression_key(key), email=email, reason=reason,
                detail=(detail or "")[:MAX_DETAIL] or None, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key_hash"])
        .returning(Suppression.id)
    ).first() is not None


def reasons_for(session: Session, keys: list[str]) -> dict[str, SuppressionReason]:
    """Return the suppressed ones of ``keys`` (lower-cased normalized addresses), with why."""
    hashes = {suppression_key(key): key for key in set(keys)}
    if not hashes:
        return {}
    found = session.execute(select(Suppression.key_hash, Suppression.reason)
                            .where(Suppression.key_hash.in_(list(hashes))))
    return {hashes[key_hash]: reason for key_hash, reason in found}
