"""Keep a listmonk list in step with ours, through listmonk's REST API.

Every call listmonk gets from us is in this module (written from listmonk's API docs,
https://listmonk.app/docs/apis/subscribers/; tested against a local fake in
tests/listmonk_fake.py, since no listmonk binary can be installed where we test):

- ``POST /api/subscribers`` creates a confirmed reader on the list
  (``preconfirm_subscriptions``); 409 when the address exists, then
- ``GET /api/subscribers?query=subscribers.email='...'`` finds its id, and
- ``PUT /api/subscribers/lists`` adds it to the list (``action: add``, ``status:
  confirmed``) or unsubscribes it from the list (``action: unsubscribe``);
- ``DELETE /api/subscribers/{id}`` deletes it when the reader is erased here.

Authentication is listmonk's API user and token, sent as ``Authorization: token
user:token`` (listmonk v4+; older versions took the same pair as HTTP BasicAuth).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .httpcalls import CallFailed, call, expect_success
from .models import WebhookEndpoint
from .webhooks import CONFIRMED, ERASED, UNSUBSCRIBED


def push(endpoint: WebhookEndpoint, event: dict[str, Any], *, timeout: float) -> None:
    """Apply one event to the listmonk list; raise ``CallFailed`` to be retried."""
    client = _Client(endpoint, timeout)
    data = event["data"]
    email = str(data["email"])
    if event["type"] == CONFIRMED:
        client.add_confirmed(email, data)
    elif event["type"] == UNSUBSCRIBED:
        found = client.find(email)
        if found is not None:
            client.change_lists(found, "unsubscribe")
    elif event["type"] == ERASED:
        found = client.find(email)
        if found is not None:
            client.send("DELETE", f"/api/subscribers/{found}", None, "delete subscriber")


class _Client:
    def __init__(self, endpoint: WebhookEndpoint, timeout: float) -> None:
        assert endpoint.list_id is not None
        self.base = endpoint.url.rstrip("/")
        self.list_id = endpoint.list_id
        self.timeout = timeout
        # A secret: it goes in this header and nowhere else (never in an error or a log).
        self.auth = f"token {endpoint.api_user}:{endpoint.api_token}"

    def add_confirmed(self, email: str, data: dict[str, Any]) -> None:
        body = {
            "email": email, "name": data.get("name") or email.split("@")[0],
            "status": "enabled", "lists": [self.list_id], "preconfirm_subscriptions": True,
            "attribs": {"newsletter": data.get("newsletter"), "source": data.get("source"),
                        "confirmed_at": data.get("confirmed_at")},
        }
        answer = self.send("POST", "/api/subscribers", body, "create subscriber", ok=(409,))
        if answer == 409:  # known to listmonk already: add it to our list
            found = self.find(email)
            if found is None:
                raise CallFailed("listmonk answered 409 but cannot find the subscriber")
            self.change_lists(found, "add")

    def change_lists(self, subscriber_id: int, action: str) -> None:
        body: dict[str, Any] = {"ids": [subscriber_id], "action": action,
                                "target_list_ids": [self.list_id]}
        if action == "add":
            body["status"] = "confirmed"
        self.send("PUT", "/api/subscribers/lists", body, f"{action} list")

    def find(self, email: str) -> int | None:
        query = "subscribers.email='{}'".format(email.lower().replace("'", "''"))
        path = f"/api/subscribers?per_page=1&query={quote(query)}"
        answer = call("GET", self.base + path, headers=self._headers(), timeout=self.timeout)
        expect_success(answer, "listmonk: find subscriber")
        results = json.loads(answer.body)["data"]["results"]
        return int(results[0]["id"]) if results else None

    def send(self, method: str, path: str, body: dict[str, Any] | None, what: str,
             ok: tuple[int, ...] = ()) -> int:
        payload = json.dumps(body).encode() if body is not None else None
        answer = call(method, self.base + path, body=payload, headers=self._headers(),
                      timeout=self.timeout)
        if answer.status in ok:
            return answer.status
        if method == "DELETE" and answer.status == 404:
            return answer.status  # gone already: what we wanted
        expect_success(answer, f"listmonk: {what}")
        return answer.status

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.auth, "Content-Type": "application/json",
                "Accept": "application/json"}
