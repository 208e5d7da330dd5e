"""The newsletter a request names, or a 404: active ones for readers, any for console and API."""

from __future__ import annotations

from flask import abort, g
from flask_babel import gettext as _

from .. import newsletters
from ..db import get_session, read_only_transaction
from ..models import Newsletter


def find_request_newsletter(slug: str) -> Newsletter:
    """Return the active newsletter ``slug`` (or raise UnknownNewsletter), once per request.

    The view and the CORS and framing headers all need it: asking the database again
    after the use case committed would open a second transaction (on SQLite, another
    write lock) just to read the same row.
    """
    found: dict[str, Newsletter] = g.setdefault("newsletters_by_slug", {})
    if slug not in found:
        session = get_session()
        with read_only_transaction(session):  # a signup holds SQLite's write lock only to write
            found[slug] = newsletters.find_newsletter(session, slug)
    return found[slug]


def newsletter_or_404(slug: str) -> Newsletter:
    """Return the active newsletter ``slug``, or answer 404."""
    try:
        return find_request_newsletter(slug)
    except newsletters.UnknownNewsletter:
        abort(404, description=_("There is no newsletter at this address."))


def any_newsletter_or_404(slug: str) -> Newsletter:
    """Return newsletter ``slug``, active or not (the console and the API manage both), or 404."""
    newsletter = newsletters.get_newsletter(get_session(), slug)
    if newsletter is None:
        abort(404, description="There is no newsletter with that slug.")
    return newsletter
