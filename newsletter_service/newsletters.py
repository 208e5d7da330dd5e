"""A publisher's newsletters: create, edit, (de)activate, find, list, seed the demo."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .addresses import InvalidAddress, normalize_address
from .db import commit_unique
from .i18n import LANGUAGES
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
    {"slug": "tyzhden", "name": "Тиждень", "language": "uk",
     "description": "Головне з України за тиждень: щонеділі зранку, без поспіху."},
]


# Settings that may hold several lines; every other text is one line (it goes into email
# headers, URLs and page titles, where a line break breaks the signup).
MULTI_LINE = ("description", "consent_text", "success_message", "confirmation_text",
              "allowed_origins")


class UnknownNewsletter(LookupError):
    """No active newsletter has that slug."""


class InvalidNewsletter(ValueError):
    """The newsletter's settings are not acceptable; the message says why, ``field`` where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def create_newsletter(session: Session, slug: str, name: str, **settings: Any) -> Newsletter:
    """Create a newsletter; raise InvalidNewsletter for a bad or taken slug."""
    _refuse_control_characters({"slug": slug, "name": name, **settings})
    if not SLUG_PATTERN.match(slug):
        raise InvalidNewsletter(
            f"'{slug}' is not a valid slug: use lower-case letters, digits and hyphens "
            "(at most 64 characters, no hyphen at either end).", "slug"
        )
    if not name.strip():
        raise InvalidNewsletter("A newsletter needs a name.", "name")
    newsletter = Newsletter(slug=slug, name=name.strip(), **_cleaned(settings))
    session.add(newsletter)
    _commit(session, slug)
    return newsletter


def update_newsletter(session: Session, newsletter: Newsletter,
                      changes: Mapping[str, Any]) -> Newsletter:
    """Change a newsletter's settings; a new consent text gets a new consent version."""
    _refuse_control_characters(changes)
    changes = dict(changes)
    slug = changes.pop("slug", newsletter.slug)
    if not SLUG_PATTERN.match(slug):
        raise InvalidNewsletter(f"'{slug}' is not a valid slug.", "slug")
    if not str(changes.get("name", newsletter.name)).strip():
        raise InvalidNewsletter("A newsletter needs a name.", "name")
    cleaned = _cleaned(changes)
    if cleaned.get("consent_text", newsletter.consent_text) != newsletter.consent_text:
        newsletter.consent_version += 1  # earlier consents were given to the earlier text
    for field, value in cleaned.items():
        setattr(newsletter, field, value.strip() if field == "name" else value)
    newsletter.slug = slug
    _commit(session, slug)
    return newsletter


def set_active(session: Session, newsletter: Newsletter, active: bool) -> None:
    """Deactivate (its forms stop taking signups) or reactivate a newsletter."""
    newsletter.is_active = active
    session.commit()


def find_newsletter(session: Session, slug: str) -> Newsletter:
    """Return the active newsletter called ``slug`` or raise UnknownNewsletter."""
    newsletter = session.scalar(
        select(Newsletter).where(Newsletter.slug == slug, Newsletter.is_active)
    )
    if newsletter is None:
        raise UnknownNewsletter(slug)
    return newsletter


def public_newsletters(session: Session) -> list[Newsletter]:
    """Return the newsletters shown on the index page, oldest first."""
    query = select(Newsletter).where(Newsletter.is_active, Newsletter.is_public)
    return list(session.scalars(query.order_by(Newsletter.id)))


def get_newsletter(session: Session, slug: str) -> Newsletter | None:
    """Return the newsletter called ``slug``, active or not."""
    return session.scalar(select(Newsletter).where(Newsletter.slug == slug))


def _refuse_control_characters(settings: Mapping[str, Any]) -> None:
    """Refuse control characters: line breaks only in the multi-line texts, others nowhere."""
    for field, value in settings.items():
        allowed = "\t\r\n" if field in MULTI_LINE else ""
        if isinstance(value, str) and any(unicodedata.category(c) == "Cc" and c not in allowed
                                          for c in value):
            label = field.replace("_", " ")
            rule = "may not hold control characters" if allowed else \
                "must be one line, without line breaks or other control characters"
            raise InvalidNewsletter(f"The {label} {rule}.", field)


def _commit(session: Session, slug: str) -> None:
    taken = InvalidNewsletter(f"A newsletter with the slug '{slug}' exists already.")
    commit_unique(session, taken)


def _cleaned(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return the settings with origins, return URL and reply-to checked and normalized."""
    cleaned = dict(settings)
    if "consent_text" in cleaned:
        cleaned["consent_text"] = (cleaned["consent_text"] or "").strip() or None
    if "language" in cleaned and cleaned["language"] not in LANGUAGES:
        shipped = ", ".join(LANGUAGES)
        raise InvalidNewsletter(f"The language must be one we ship: {shipped}.", "language")
    if "allowed_origins" in cleaned:
        lines = str(cleaned["allowed_origins"] or "").splitlines()
        cleaned["allowed_origins"] = "\n".join(_origin(line) for line in lines if line.strip())
    if cleaned.get("return_url"):
        cleaned["return_url"] = _http_url(cleaned["return_url"], "return URL")
    if cleaned.get("reply_to"):
        try:
            cleaned["reply_to"] = normalize_address(cleaned["reply_to"]).email
        except InvalidAddress as error:
            raise InvalidNewsletter(f"Reply-to: {error}") from None
    for field in ("return_url", "reply_to", "confirmation_subject", "confirmation_text"):
        if field in cleaned and not cleaned[field]:
            cleaned[field] = None
    return cleaned


def _origin(line: str) -> str:
    """Return ``scheme://host[:port]`` for a line naming a publisher's web origin."""
    text = line.strip().rstrip("/")
    parts = _split(text, "origin")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidNewsletter(f"'{text}' is not an origin: give scheme, host and port only, "
                                "like https://www.example.com")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _http_url(value: str, label: str) -> str:
    text = value.strip()
    _split(text, label)
    return text


def _split(text: str, label: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidNewsletter(f"'{text}' is not a valid {label}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidNewsletter(f"'{text}' is not a valid {label}: it must start with "
                                "http:// or https:// and name a host.")
    return parts


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
