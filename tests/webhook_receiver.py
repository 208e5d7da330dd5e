"""A real webhook receiver on loopback that verifies every signature with standardwebhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .servers import LoopbackFake, QuietHandler, running


@dataclass
class Received:
    """One verified delivery."""

    webhook_id: str
    payload: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.payload["type"])


@dataclass
class Receiver(LoopbackFake):
    """Answers 204 to signed POSTs (after ``delay`` seconds); can go down and come back."""

    secret: str = ""
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)  # webhook-id: requests seen
    bad_signatures: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver._take(dict(self.headers.items()), body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(204)
                self.end_headers()

        return Handler

    def types(self) -> list[str]:
        return [r.type for r in self.received]

    def _take(self, headers: dict[str, str], body: bytes) -> None:
        webhook_id = headers.get("webhook-id", "")
        self.attempts[webhook_id] = self.attempts.get(webhook_id, 0) + 1
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as error:
            self.bad_signatures.append(f"{webhook_id}: {error}")
            return
        self.received.append(Received(webhook_id, payload))


def running_receiver() -> Iterator[Receiver]:
    """Yield a started receiver (set ``.secret`` to the endpoint's); stop it after."""
    return running(Receiver())


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds (a deadline, not a timing assert)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def body_of(received: Received) -> str:
    return json.dumps(received.payload, sort_keys=True)
