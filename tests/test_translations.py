"""The shipped catalogues: complete, not fuzzy, and holding every string the code marks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from newsletter_service.i18n import LANGUAGES, TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(set(LANGUAGES) - {"en"})  # English is the source language: no catalogue
# Pages and emails a reader sees; the console and the development mailbox are English only.
READER_TEMPLATES = sorted(
    path for path in (ROOT / "templates").rglob("*")
    if path.is_file() and path.relative_to(ROOT / "templates").parts[0] not in ("admin", "devmail")
)
# Jinja syntax, and the one block that holds a CSS class rather than words.
JINJA = re.compile(r"{% block main_class %}.*?{% endblock %}|{#.*?#}|{%.*?%}|{{.*?}}", re.DOTALL)
MARKUP = re.compile(r"<!--.*?-->|<[^>]*>|&[a-z]+;|&#\d+;", re.DOTALL)


def catalogue(language: str) -> Catalog:
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        return read_po(file, locale=language)


def marked_strings() -> set[str | tuple[str, ...]]:
    """Extract the marked strings exactly as `make translations` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    found: set[str | tuple[str, ...]] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found.add(message)
    return found


def test_every_language_a_newsletter_can_have_ships_a_catalogue() -> None:
    assert SHIPPED == ["uk"]
    for language in SHIPPED:
        assert (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").is_file()


@pytest.mark.parametrize("language", SHIPPED)
def test_a_catalogue_has_no_untranslated_or_fuzzy_entry(language: str) -> None:
    problems = []
    for message in catalogue(language):
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(message.id)
    assert problems == []


@pytest.mark.parametrize("language", SHIPPED)
def test_a_catalogue_keeps_every_placeholder_and_plural_form(language: str) -> None:
    checked = catalogue(language)
    assert checked.num_plurals == 3  # Ukrainian: one, few, many
    errors = [(message.id, [str(e) for e in found]) for message, found in checked.check()]
    assert errors == []


@pytest.mark.parametrize("language", SHIPPED)
def test_every_marked_string_is_in_the_catalogue(language: str) -> None:
    known = {message.id for message in catalogue(language) if message.id}
    missing = [m for m in marked_strings() if m not in known]
    assert missing == [], "run `make translations` and translate the new entries"


@pytest.mark.parametrize("template", READER_TEMPLATES,
                         ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_a_readers_template_has_no_text_outside_the_catalogue(template: Path) -> None:
    text = MARKUP.sub(" ", JINJA.sub(" ", template.read_text()))
    words = [word for word in text.split() if re.search(r"[^\W\d_]{2,}", word)]
    assert words == [], "wrap the template's text in _() so it is translated"
