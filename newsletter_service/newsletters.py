"""The use cases of a publisher's newsletters: create, list, seed the demo."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import FieldMode, Newsletter

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

DEMO_NEWSLETTERS: list[dict[str, Any]] = [
    {"slug": "morning-briefing", "name": "The Morning Briefing",
     "description": "The five stories you need to know, in your inbox at 6 a.m. every weekday."},
    {"slug": "climate-desk", "name": "Climate Desk",
     "description": "Our science reporters on the warming world. Every Thursday.",
     "name_field": FieldMode.optional},
    {"slug": "weekend-reads", "name": "Weekend Reads",
     "description": "Long stories worth your Saturday morning, picked by our editors.",
     "name_field": FieldMode.required,
     "consent_text": "I agree to receive Weekend Reads and accept the privacy policy."},
]


class InvalidNewsletter(ValueError):
    """The newsletter's settings are not acceptable; the message says why."""


def create_newsletter(session: Session, slug: str, name: str, **settings: Any) -> Newsletter:
    """Create a newsletter; raise InvalidNewsletter for a bad or taken slug."""
    if not SLUG_PATTERN.match(slug):
        raise InvalidNewsletter(
            f"'{slug}' is not a valid slug: use lower-case letters, digits and hyphens "
            "(at most 64 characters, no hyphen at either end)."
        )
    if not name.strip():
        raise InvalidNewsletter("A newsletter needs a name.")
    newsletter = Newsletter(slug=slug, name=name.strip(), **settings)
    session.add(newsletter)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise InvalidNewsletter(f"A newsletter with the slug '{slug}' exists already.") from None
    return newsletter


def all_newsletters(session: Session) -> list[Newsletter]:
    """Return every newsletter, oldest first."""
    return list(session.scalars(select(Newsletter).order_by(Newsletter.id)))


def seed_demo(session: Session) -> int:
    """Create the demo newsletters when there are none; return how many were created."""
    if session.scalar(select(func.count()).select_from(Newsletter)):
        return 0
    for settings in DEMO_NEWSLETTERS:
        create_newsletter(session, **settings)
    return len(DEMO_NEWSLETTERS)
