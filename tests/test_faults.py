"""Failures of the parts around us: the database goes away and comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from newsletter_service import create_app

from .conftest import TABLES, base_config
from .factories import make_newsletter
from .servers import TCPProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied_app(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Flask, TCPProxy]]:
    """An app whose PostgreSQL connection runs through a proxy the test can cut."""
    url = make_url(postgres_url)
    proxy = TCPProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    app = create_app(base_config(through_proxy, tmp_path))
    yield app, proxy
    proxy.cut()
    app.extensions["db_engine"].dispose()


def test_database_unreachable_gives_503_and_recovers(
        proxied_app: tuple[Flask, TCPProxy]) -> None:
    app, proxy = proxied_app
    with app.extensions["db_engine"].begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    make_newsletter(app)
    client = app.test_client()
    assert client.post("/newsletters/daily/subscribe", json={"email": "a@example.com"}
                       ).status_code == 200
    proxy.cut()
    down = client.post("/newsletters/daily/subscribe", json={"email": "b@example.com"})
    assert down.status_code == 503
    assert down.json["ok"] is False and "try again" in down.json["error"]
    assert down.headers["Retry-After"]
    page = client.post("/newsletters/daily/subscribe", data={"email": "b@example.com"})
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503
    proxy.restore()
    assert client.get("/healthz").status_code == 200
    back = client.post("/newsletters/daily/subscribe", json={"email": "b@example.com"})
    assert back.status_code == 200
