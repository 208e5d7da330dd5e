"""The newsletter a request names, or a 404: active ones for readers, any for console and API."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, abort, current_app, g
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session, make_transient_to_detached

from .. import newsletters
from ..db import get_session, read_only_transaction
from ..models import Newsletter


class NewsletterCache:
    """Active newsletters by slug, each read from the database at most once in ``seconds``.

    Every signup needs its newsletter's settings before its form is checked, and reading
    them took a transaction of its own: a fifth of a signup's work in the web process.
    A hit hands the request a copy in its own session (``merge`` without loading), so
    nothing the request does reaches the cached one. An edit made through this process's
    sessions clears the cache when it is flushed; other processes see it within
    ``seconds`` (``SETTINGS_CACHE_SECONDS``; 0 reads the settings for every request).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, Newsletter]] = {}

    def find(self, session: Session, slug: str) -> Newsletter:
        """Return the active newsletter ``slug`` in ``session``, or raise UnknownNewsletter."""
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > self.clock():
            return session.merge(entry[1], load=False)
        read_at = self.clock()
        with read_only_transaction(session):  # a signup holds SQLite's write lock only to write
            found = newsletters.find_newsletter(session, slug)
        if self.seconds > 0:
            self._entries[slug] = (read_at + self.seconds, _detached_copy(found))
        return found

    def clear(self) -> None:
        self._entries.clear()

    def clear_if_edited(self, session: Session, _context: object) -> None:
        """Forget every newsletter when a flush wrote one (``after_flush``)."""
        if any(isinstance(o, Newsletter) for o in (*session.new, *session.dirty,
                                                    *session.deleted)):
            self.clear()


def _detached_copy(newsletter: Newsletter) -> Newsletter:
    """Return a copy of ``newsletter``'s columns that belongs to no session."""
    columns = Newsletter.__mapper__.column_attrs
    copy = Newsletter(**{column.key: getattr(newsletter, column.key) for column in columns})
    make_transient_to_detached(copy)
    return copy


def init_app(app: Flask) -> None:
    """Give the app its newsletter cache, cleared by edits flushed through its sessions."""
    cache = NewsletterCache(float(app.config["SETTINGS_CACHE_SECONDS"]))
    app.extensions["newsletter_cache"] = cache
    event.listen(app.extensions["db_sessionmaker"], "after_flush", cache.clear_if_edited)


def find_request_newsletter(slug: str) -> Newsletter:
    """Return the active newsletter ``slug`` (or raise UnknownNewsletter), once per request.

    The view and the CORS and framing headers all need it: asking the database again
    after the use case committed would open a second transaction (on SQLite, another
    write lock) just to read the same row.
    """
    found: dict[str, Newsletter] = g.setdefault("newsletters_by_slug", {})
    if slug not in found:
        cache: NewsletterCache = current_app.extensions["newsletter_cache"]
        found[slug] = cache.find(get_session(), slug)
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
