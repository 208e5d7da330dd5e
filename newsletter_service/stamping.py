"""Render an email once, then stamp each reader's values into its bytes.

Building a message with the ``email`` package (header registry, folding, MIME
generator) costs milliseconds; a newsletter's confirmation email differs between readers
only in a few values: the recipient, the date, the Message-ID, the links and the code.
So the message is built once with a marker in place of each such value, serialized, and
cached; each reader's bytes are the cached bytes with the markers replaced.

That is only sound if a marker reaches the bytes unchanged and a value can stand where the
marker stood. Markers are short runs of ASCII letters and digits, which no header folding,
encoded word or escaping alters; the text bodies are written ``7bit`` (or ``8bit`` when they
hold non-ASCII text), never quoted-printable or base64, so a body holds them literally.
Values are checked before they are stamped: no white space or control character in any of
them (so no header can be injected or folded apart), HTML-escaped inside the HTML part, and
non-ASCII only in a message written with UTF-8 headers (SMTPUTF8).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# A value to stamp: printable, no white space (it may stand in a header, unfolded) ...
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")
# ... except a date, which has single spaces (and is written by us).
_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}")
_HTML_PART = re.compile(rb"^Content-Type: text/html", re.MULTILINE | re.IGNORECASE)
# A body in one of these would hold its markers encoded, and a value stamped in raw could
# be misread ("=" in quoted-printable): such a message is not stamped.
_ENCODED_BODY = re.compile(rb"^Content-Transfer-Encoding:[ \t]*(quoted-printable|base64)",
                           re.MULTILINE | re.IGNORECASE)


class StampError(ValueError):
    """A value cannot be stamped into the message safely."""


@dataclass(frozen=True)
class StampedMessage:
    """A serialized message cut at its markers, and how to fill them in."""

    pieces: tuple[bytes, ...]  # the bytes between markers: one more than ``slots``
    slots: tuple[tuple[str, bool], ...]  # for each marker: its field, and in the HTML part?
    fields: frozenset[str]
    utf8: bool  # written with UTF-8 headers: values may be non-ASCII

    def stamp(self, values: Mapping[str, str]) -> bytes:
        """Return the message for one reader: every marker replaced by its checked value."""
        if values.keys() != self.fields:
            raise StampError(f"values for {sorted(values)} do not match {sorted(self.fields)}")
        plain = {name: _checked(name, value, self.utf8) for name, value in values.items()}
        encoded = {(name, False): value.encode() for name, value in plain.items()}
        encoded.update({(name, True): html.escape(value, quote=True).encode()
                        for name, value in plain.items()})
        parts = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            parts += (encoded[slot], piece)
        return b"".join(parts)


def marker() -> str:
    """Return a fresh marker: letters and digits only, unlikely anywhere else."""
    return f"zq{secrets.token_hex(8)}qz"


def prepare(build: Callable[[Mapping[str, str]], bytes], markers: Mapping[str, str],
            utf8: bool) -> StampedMessage:
    """Build a message once with ``markers`` in place of its per-reader values.

    A marker is usually ``marker()``; where the field must parse as something (an
    address, a date) it is a value of that shape containing a marker, or a date no
    message would carry.
    """
    raw = build(markers)
    if _ENCODED_BODY.search(raw):
        raise StampError("a body is quoted-printable or base64: build it in full")
    fields = {marker.encode(): name for name, marker in markers.items()}
    for marker, name in fields.items():
        if marker not in raw:
            raise StampError(f"the marker of {name} did not reach the message's bytes")
    found = _HTML_PART.search(raw)
    html_start = found.start() if found else len(raw)
    # Cut once at every marker: a reader's message is then one join.
    cut = re.compile(b"|".join(re.escape(marker) for marker in fields))
    pieces, slots, start = [], [], 0
    for match in cut.finditer(raw):
        pieces.append(raw[start:match.start()])
        slots.append((fields[match.group()], match.start() >= html_start))
        start = match.end()
    pieces.append(raw[start:])
    return StampedMessage(tuple(pieces), tuple(slots), frozenset(markers), utf8)


def _checked(name: str, value: str, utf8: bool) -> str:
    if not value or (_FORBIDDEN.search(value) and not _DATE.fullmatch(value)):
        raise StampError(f"{name} is empty or holds white space or a control character")
    if not utf8 and not value.isascii():
        raise StampError(f"{name} is not ASCII, and the message has ASCII headers")
    return value
