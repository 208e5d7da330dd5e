"""Logging: one handler for the package, text or JSON lines, never an address in a line.

Views and the worker log through ``logging.getLogger(__name__)`` (children of
``newsletter_service``, which is also Flask's ``app.logger``). ``configure`` gives that logger
one handler on standard error: plain text, or with ``NEWSLETTER_LOG_FORMAT=json`` one JSON
object a line for log shippers. Whatever a line says, the formatter masks email addresses:
an error text quoted from an SMTP server may carry one. Tokens never reach a log: requests
are logged by their URL rule (``/confirm/<token>``), not their path.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import g, has_request_context
from flask.logging import default_handler

LOGGER = "newsletter_service"
FORMATS = ("text", "json")
# Fields a line may carry besides its message (``extra={...}``), in the order JSON shows them.
FIELDS = ("request_id", "method", "route", "status", "duration_ms")
EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[^\s@<>()\[\]\"',;:]+")
MASK = "<email>"


def redact(text: str) -> str:
    """Mask every email address in ``text``."""
    return EMAIL.sub(MASK, text)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to the current ``sys.stderr``, wherever it points now (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _RequestId(logging.Filter):
    """Stamp each record with the request id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``, addresses masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
                         defaults={"request_id": "-"})

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS
                      if getattr(record, name, None) is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure(log_format: str = "text", level: str | int = "INFO") -> logging.Handler:
    """Give the package's logger one handler in ``log_format``; calling again replaces it."""
    if log_format not in FORMATS:
        raise ValueError(f"NEWSLETTER_LOG_FORMAT must be one of {', '.join(FORMATS)}, "
                         f"not {log_format!r}")
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if handler is default_handler or isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestId())
    logger.addHandler(handler)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
