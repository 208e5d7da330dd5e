"""Import rows: a CSV file's rows read, checked and normalized, each bad one reported by line.

The same checks serve one reader added through the API (``check_reader``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from .addresses import Address, InvalidAddress, normalize_address
from .sources import clean_label

READ_COLUMNS = ("email", "name", "source", "created_at")  # any other column is ignored
MAX_NAME_LENGTH = 200
MAX_SOURCE_LENGTH = 2048


class UnreadableFile(ValueError):
    """The file is no CSV with an ``email`` column; nothing was imported."""


class InvalidField(ValueError):
    """A value is not acceptable; ``field`` names it (``email``, ``name``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewReader:
    """A reader to add, checked and normalized: the address and what else is known."""

    address: Address
    name: str | None = None
    source: str | None = None
    created_at: datetime | None = None


def read_rows(lines: Iterable[str], errors: list[tuple[int, str]]) -> Iterator[NewReader]:
    """Yield the valid rows; add each bad one to ``errors`` with its line number."""
    reader = csv.reader(iter(lines))
    width, pick = _columns(reader)
    padding = [""] * (width + 1)
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            errors.append((line, f"not valid CSV: {error}"))
        else:
            if cells:  # a blank line is no row
                # Cells past the header's columns are ignored; missing ones are empty.
                cells = cells[:width]
                cells += padding[len(cells):]
                try:
                    _check_utf8_cells(cells)
                    yield _new_reader(*pick(cells))
                except InvalidField as error:
                    errors.append((line, str(error)))
        line = reader.line_num + 1


def _columns(reader: Iterator[list[str]]) -> tuple[int, Callable[[list[str]], Any]]:
    """Read the header; return its width and what picks READ_COLUMNS' cells from a row.

    A column not in the file picks the empty cell that pads every row past its width.
    """
    try:
        header = next(reader, [])
    except csv.Error as error:
        raise UnreadableFile(f"line 1: {error}") from None
    # A column named twice: the last one counts (as csv.DictReader had it).
    columns = {_header(name): at for at, name in enumerate(header)}
    if "email" not in columns:
        raise UnreadableFile("The first line must name the columns, one of them 'email'.")
    return len(header), itemgetter(*(columns.get(name, len(header)) for name in READ_COLUMNS))


def _header(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


def _check_utf8_cells(cells: list[str]) -> None:
    if not "".join(cells).isascii():  # rare: only then look at each cell
        for cell in cells:
            _check_utf8("row", cell)


def check_reader(values: Mapping[str | None, Any]) -> NewReader:
    """Return a row's or a request's values checked and normalized, or raise InvalidField."""
    for key, value in values.items():
        if isinstance(value, str):
            _check_utf8(str(key), value)
    return _new_reader(values.get("email"), values.get("name"), values.get("source"),
                       values.get("created_at"))


def _new_reader(email: str | None, name: str | None, source: str | None,
                created_at: str | None) -> NewReader:
    try:
        address = normalize_address(email or "")
    except InvalidAddress as error:
        raise InvalidField("email", f"{email or ''!r}: {error}") from None
    return NewReader(address=address, name=_text(name, MAX_NAME_LENGTH, "name"),
                     source=_source(source), created_at=_time(created_at))


def _check_utf8(field: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # the file was read with errors="surrogateescape"
        raise InvalidField(field, "not UTF-8 text") from None


def _text(value: str | None, limit: int, label: str) -> str | None:
    # Names and sources land in CSV exports and pages: no line breaks or control characters.
    value = value or ""
    if not value.isprintable():  # rare: only then look at each character
        value = "".join(c if c.isprintable() else " " for c in value)
    text = " ".join(value.split())
    if len(text) > limit:
        raise InvalidField(label, f"the {label} has more than {limit} characters")
    return text or None


@lru_cache(maxsize=1024)
def _source(value: str | None) -> str | None:
    # An import's rows mostly share a few sources: each is cleaned once (a pure function).
    return clean_label(_text(value, MAX_SOURCE_LENGTH, "source"))


@lru_cache(maxsize=1024)
def _time(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidField("created_at", f"created_at {value!r} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
