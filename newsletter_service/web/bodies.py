"""Request bodies: bounded however they are sent, and JSON read one strict way.

Werkzeug stops reading a body without ``Content-Length`` (chunked) at
``max_content_length`` and hands on what it read, so a field past the cut was
silently lost; here the body is refused with 413 instead. Every ``get_json`` goes
through ``StrictJSONProvider.loads``: repeated keys and absurd nesting are a 400
with a message, never a last-one-wins or a RecursionError.
"""

from __future__ import annotations

import json
from typing import IO, Any

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

NOT_JSON = "Send a JSON object, such as {\"email\": \"you@example.com\"}."


class InvalidJSON(ValueError):
    """A body that parses as JSON but that we refuse; the message says why."""


class BoundedStream(LimitedStream):
    """A stream of at most ``limit`` bytes that raises 413 when the body goes on past it."""

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return data


class BoundedRequest(Request):
    """Flask's request, with chunked bodies held to the same limit as the others."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is not None and self.content_length is None and \
                "wsgi.input_terminated" in self.environ:
            return BoundedStream(self.environ["wsgi.input"], limit, is_max=True)  # type: ignore[return-value]
        return get_input_stream(self.environ, max_content_length=limit)

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Answer 400 with what is wrong (Flask drops the message outside debug)."""
        if e is None:
            return super().on_json_loading_failed(e)
        raise BadRequest(str(e) if isinstance(e, InvalidJSON) else NOT_JSON)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing repeated keys and nesting deeper than Python's stack."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; raise InvalidJSON (a ValueError) for what we refuse."""
        try:
            return json.loads(s, object_pairs_hook=_unique_keys, **kwargs)
        except RecursionError:
            raise InvalidJSON("Send a JSON object: this one is nested too deeply.") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJSON(f"The key '{key}' appears more than once in the JSON object.")
        result[key] = value
    return result


def init_app(app: Flask) -> None:
    """Use the bounded request and the strict JSON reader for every request."""
    app.request_class = BoundedRequest
    app.json = StrictJSONProvider(app)
