"""A small stand-in for listmonk's subscriber API on loopback, strict about shape and auth.

It implements the calls newsletter_service/sync_listmonk.py makes, as listmonk's API docs
describe them, and refuses (400/401) any request that differs, noting why in ``problems``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .servers import LoopbackFake, QuietHandler, running

USER, TOKEN = "newsletter-sync", "s3cret-token"
QUERY = re.compile(r"^subscribers\.email='((?:[^']|'')*)'$")


@dataclass
class FakeListmonk(LoopbackFake):
    """listmonk's subscribers, each with its lists and their statuses."""

    subscribers: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def by_email(self, email: str) -> dict[str, Any] | None:
        return next((s for s in self.subscribers.values() if s["email"] == email.lower()), None)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake._answer(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._answer(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                fake._answer(self, "PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                fake._answer(self, "DELETE")

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        self.calls.append(f"{method} {url.path}")
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        if handler.headers.get("Authorization") != f"token {USER}:{TOKEN}":
            self.problems.append(f"{method} {url.path}: bad auth")
            return _send(handler, 401, {"message": "invalid API credentials"})
        try:
            data = json.loads(body) if body else None
            status, answer = self._route(method, url.path, parse_qs(url.query), data)
        except (AssertionError, KeyError, TypeError, ValueError) as error:
            self.problems.append(f"{method} {url.path}: {error!r}")
            status, answer = 400, {"message": "bad request"}
        _send(handler, status, answer)

    def _route(self, method: str, path: str, query: dict[str, list[str]],
               data: Any) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/api/subscribers":
            return self._create(data)
        if method == "GET" and path == "/api/subscribers":
            found = QUERY.match(query["query"][0])
            assert found, f"unexpected query {query['query'][0]!r}"
            match = self.by_email(found.group(1).replace("''", "'"))
            return 200, {"data": {"results": [match] if match else [], "total": int(bool(match))}}
        if method == "PUT" and path == "/api/subscribers/lists":
            return self._lists(data)
        if method == "DELETE" and (found := re.fullmatch(r"/api/subscribers/(\d+)", path)):
            if self.subscribers.pop(int(found.group(1)), None) is None:
                return 404, {"message": "not found"}
            return 200, {"data": True}
        raise AssertionError(f"no such endpoint: {method} {path}")

    def _create(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert set(data) <= {"email", "name", "status", "lists", "attribs",
                             "preconfirm_subscriptions"}, data
        assert data["status"] == "enabled" and data["preconfirm_subscriptions"] is True
        assert isinstance(data["name"], str) and data["name"]
        assert all(isinstance(i, int) for i in data["lists"])
        assert isinstance(data.get("attribs", {}), dict)
        if self.by_email(data["email"]):
            return 409, {"message": "E-mail already exists."}
        new_id = max(self.subscribers, default=0) + 1
        self.subscribers[new_id] = {
            "id": new_id, "email": data["email"].lower(), "name": data["name"],
            "attribs": data.get("attribs", {}),
            "lists": {i: "confirmed" for i in data["lists"]},
        }
        return 200, {"data": self.subscribers[new_id]}

    def _lists(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert data["action"] in ("add", "remove", "unsubscribe"), data
        assert data["ids"] and data["target_list_ids"], data
        if data["action"] == "add":
            assert data["status"] in ("confirmed", "unconfirmed", "unsubscribed"), data
        for subscriber_id in data["ids"]:
            lists = self.subscribers[subscriber_id]["lists"]
            for list_id in data["target_list_ids"]:
                if data["action"] == "remove":
                    lists.pop(list_id, None)
                else:
                    lists[list_id] = (data["status"] if data["action"] == "add"
                                      else "unsubscribed")
        return 200, {"data": True}


def _send(handler: BaseHTTPRequestHandler, status: int, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def running_listmonk() -> Iterator[FakeListmonk]:
    """Yield a started fake; stop it after."""
    return running(FakeListmonk())
