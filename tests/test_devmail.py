"""The dev mailbox that `make run` shows: the whole journey in one browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from newsletter_service import create_app
from newsletter_service.worker import deliver_once

from .factories import make_newsletter


@pytest.fixture
def dev_app(app: Flask, tmp_path: Path) -> Flask:
    """An app configured as `make run` configures it, on the test database."""
    config = {"DEBUG": True, "SECRET_KEY": "k", "DATABASE_URL": app.config["DATABASE_URL"],
              "MAILER": f"devmail://{tmp_path / 'devmail'}"}
    return create_app(config)


def test_emails_show_up_with_clickable_links(dev_app: Flask) -> None:
    make_newsletter(dev_app, "daily", "The Daily")
    client = dev_app.test_client()
    client.post("/newsletters/daily/subscribe", data={"email": "me@example.com"})
    assert deliver_once(dev_app).sent == 1
    inbox = client.get("/dev/mailbox/").get_data(as_text=True)
    assert "Confirm your subscription to The Daily" in inbox
    message_path = re.search(r'href="(/dev/mailbox/[^"]+)"', inbox)
    assert message_path
    page = client.get(message_path.group(1)).get_data(as_text=True)
    link = re.search(r'<a href="http://127.0.0.1:5000(/confirm/[^"]+)"', page)
    assert link, page
    assert client.post(link.group(1)).status_code == 200


def test_unknown_or_hostile_message_ids_are_404(dev_app: Flask) -> None:
    client = dev_app.test_client()
    for message_id in ("nope", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"):
        assert client.get(f"/dev/mailbox/{message_id}").status_code == 404


def test_mailbox_does_not_exist_outside_debug(app: Flask, tmp_path: Path) -> None:
    config = {"SECRET_KEY": "k", "DATABASE_URL": app.config["DATABASE_URL"],
              "MAILER": f"devmail://{tmp_path / 'devmail'}", "BASE_URL": "https://n.example"}
    production = create_app(config)
    assert production.test_client().get("/dev/mailbox/").status_code == 404
