"""Languages: Flask-Babel set up, the languages we ship, and which one a request speaks.

A page speaks its newsletter's language: the view calls ``use_language`` once it knows the
newsletter, and Flask-Babel's locale selector reads that choice. Pages about no newsletter
speak the browser's ``Accept-Language`` among ours. Emails are built outside requests too
(the worker, the CLI), so they switch with ``flask_babel.force_locale`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, g, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, refresh
from flask_babel import gettext as _

# The languages a newsletter may have; a catalogue under translations/ for each but English.
LANGUAGES = {"en": "English", "uk": "Українська"}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def init_app(app: Flask) -> None:
    """Set up Flask-Babel with our catalogues and the per-request language."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=_selected_language)
    app.jinja_env.globals.update(current_language=current_language, LANGUAGES=LANGUAGES,
                                 success_title=success_title, success_message=success_message,
                                 in_language=in_language, today=today)


def speak_english(app: Flask, blueprint: Blueprint) -> None:
    """Make ``blueprint``'s pages and messages English, whatever the browser prefers."""
    app.before_request_funcs.setdefault(blueprint.name, []).append(
        lambda: use_language(DEFAULT_LANGUAGE))


def known_language(language: str | None) -> str:
    """Return ``language`` if we ship it, else the default (English)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def use_language(language: str | None) -> None:
    """Speak ``language`` for the rest of this request (an unknown one falls back to English)."""
    g.language = known_language(language)
    refresh()  # a string translated earlier in the request must not pin the old language


def use_language_of(newsletters: Sequence[Any]) -> None:
    """Speak the first newsletter's language (a link or form names it), else the browser's."""
    use_language(newsletters[0].language if newsletters else browser_language())


def browser_language() -> str:
    """Return the browser's preferred language among the ones we ship."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE


def current_language() -> str:
    """Return the language being spoken now, as its code (``en``, ``uk``): pages' ``lang``."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def in_language(language: str, render: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``render`` (a template macro) speaking ``language``: one page, forms in many."""
    with force_locale(known_language(language)):
        return render(*args, **kwargs)


def today() -> date:
    """Return today's date in UTC, for templates to format in their language."""
    return datetime.now(UTC).date()


def _selected_language() -> str:
    chosen = g.get("language")
    return chosen if chosen is not None else browser_language()


# The success texts a newsletter is created with (models.Newsletter): shown translated as long
# as the publisher keeps them; a publisher's own text is shown as written.
DEFAULT_SUCCESS_TITLE = "Successfully subscribed"
DEFAULT_SUCCESS_MESSAGE = ("Thank you for signing up for this newsletter. "
                           "We've sent you a confirmation email.")


def success_title(newsletter: object) -> str:
    """Return a newsletter's success title in the language spoken now."""
    title = str(getattr(newsletter, "success_title", "") or "")
    return _("Successfully subscribed") if title == DEFAULT_SUCCESS_TITLE else title


def success_message(newsletter: object) -> str:
    """Return a newsletter's success message in the language spoken now."""
    message = str(getattr(newsletter, "success_message", "") or "")
    if message != DEFAULT_SUCCESS_MESSAGE:
        return message
    return _("Thank you for signing up for this newsletter. We've sent you a confirmation email.")
