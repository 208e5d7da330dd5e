"""Outgoing HTTP calls of the worker: one request, a short timeout, typed failures."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_ERROR_BODY = 300


class CallFailed(Exception):
    """A call did not get a 2xx; ``timed_out`` says the receiver was too slow to answer."""

    def __init__(self, message: str, *, status: int | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status and the start of its body."""

    status: int
    body: bytes


def call(method: str, url: str, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10.0) -> Answer:
    """Send one request without following redirects; return the answer, whatever its status.

    Raises ``CallFailed`` when no answer came: refused, reset, or slower than ``timeout``
    (which bounds each connect and read, so a slow receiver costs at most about that).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallFailed(f"not an http(s) URL: {url!r}")
    connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.read(64 * 1024))
    except TimeoutError as error:
        raise CallFailed(f"{method} {_where(parts)}: no answer in {timeout:g} s",
                         timed_out=True) from error
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        raise CallFailed(f"{method} {_where(parts)}: {type(error).__name__}: {error}") from error
    finally:
        connection.close()


def expect_success(answer: Answer, what: str) -> None:
    """Raise ``CallFailed`` unless ``answer`` is a 2xx."""
    if not 200 <= answer.status < 300:
        text = answer.body[:MAX_ERROR_BODY].decode("utf-8", "replace")
        raise CallFailed(f"{what}: HTTP {answer.status} {text}".rstrip(), status=answer.status)


def _where(parts: object) -> str:
    # Host and port only: a URL's path or query may carry a token.
    netloc = getattr(parts, "hostname", "") or ""
    port = getattr(parts, "port", None)
    return f"{netloc}:{port}" if port else netloc
