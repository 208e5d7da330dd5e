"""Exports: the contract's columns, proof of consent, formulas defused, streamed from one module."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import text
from sqlalchemy.engine import Connection, Result

from newsletter_service import create_app, exports, imports, newsletters, subscriptions
from newsletter_service.consent import ConsentOrigin
from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import ConsentEvent, ExportLog
from newsletter_service.tokens import Purpose, make_token, read_lasting_token

from .admin_support import bearer, log_in, make_admin
from .admin_support import make_token as make_api_token
from .factories import (
    all_rows,
    executed_sql,
    make_newsletter,
    open_session,
    outbox_rows,
    subscribe,
)

CONTRACT = ["email", "name", "newsletter", "status", "created_at", "confirmed_at",
            "unsubscribed_at", "source", "unsubscribe_url"]
# Then the reader's preference centre, then proof of consent.
HEADER = ",".join([*CONTRACT, "manage_url", "signup_ip", "confirmation_ip", "consent_version"])


def _import(app: Flask, csv_text: str, *, confirmed: bool = True, slug: str = "daily") -> None:
    with open_session(app) as session:
        newsletter = newsletters.find_newsletter(session, slug)
        report = imports.import_csv(session, newsletter, io.StringIO(csv_text),
                                    confirmed=confirmed, actor="test")
        assert not report.errors, report.errors


def _confirm(app: Flask, subscription_id: int) -> None:
    with app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.7"}), \
            app.extensions["db_sessionmaker"]() as session:
        token = make_token(app.config["SECRET_KEY"], Purpose.confirm, [(subscription_id, 1)])
        subscriptions.confirm(session, token, ConsentOrigin(ip="198.51.100.7"))


def _export(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["subscribers", "export", "daily", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode()  # .stdout turns CRLF into LF


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_come_in_the_contracts_order_then_proof_of_consent(
        db_app: Flask) -> None:
    make_newsletter(db_app, consent_text="Yes, send it.")
    pending = subscribe(db_app, "Pending@Example.com", consent=True)
    confirmed = subscribe(db_app, "reader@example.com", name="Ada", consent=True)
    _confirm(db_app, confirmed.id)
    text = _export(db_app.test_cli_runner(), "--status", "all")
    assert text.splitlines()[0] == HEADER
    assert text.endswith("\r\n")  # RFC 4180 line ends
    first, second = _rows(text)
    assert first["email"] == "Pending@example.com" and first["status"] == "pending"
    assert first["newsletter"] == "daily" and first["confirmed_at"] == ""
    assert first["source"] == "https://pub.test/a" and first["signup_ip"] == "192.0.2.1"
    assert second["name"] == "Ada" and second["status"] == "confirmed"
    assert second["confirmation_ip"] == "198.51.100.7" and second["consent_version"] == "1"
    assert second["confirmed_at"].endswith("+00:00") and second["created_at"].endswith("+00:00")
    assert pending.id != confirmed.id


def test_default_status_is_confirmed(db_app: Flask) -> None:
    make_newsletter(db_app)
    subscribe(db_app, "pending@example.com")
    _import(db_app, "email\nconfirmed@example.com\n")
    rows = _rows(_export(db_app.test_cli_runner()))
    assert [r["email"] for r in rows] == ["confirmed@example.com"]


def test_unsubscribe_url_unsubscribes_that_subscription(app: Flask) -> None:
    make_newsletter(app)
    _import(app, "email\nreader@example.com\n")
    [row] = _rows(_export(app.test_cli_runner()))
    path = row["unsubscribe_url"].removeprefix("http://newsletters.test")
    claims = read_lasting_token(app.config["SECRET_KEY"], Purpose.unsubscribe,
                                path.split("/")[-1])
    [subscription] = all_rows(app, subscriptions.Subscription)
    assert claims.subscription_ids == (subscription.id,)
    assert app.test_client().post(path).status_code == 200
    assert _rows(_export(app.test_cli_runner(), "--status", "unsubscribed"))[0]["email"] == \
        "reader@example.com"


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)"])
def test_cells_that_spreadsheets_run_get_a_quote_unless_raw(app: Flask, name: str) -> None:
    make_newsletter(app)
    _import(app, f'email,name,source\n"=1+1@example.com","{name.replace(chr(34), 2 * chr(34))}",'
                 f'-src\n')
    runner = app.test_cli_runner()
    [safe] = _rows(_export(runner))
    assert safe["name"] == f"'{name}" and safe["email"] == "'=1+1@example.com"
    assert safe["source"] == "'-src"
    [raw] = _rows(_export(runner, "--raw"))
    assert raw["name"] == name and raw["email"] == "=1+1@example.com"


def test_quotes_commas_and_unicode_survive_the_round_trip(app: Flask) -> None:
    make_newsletter(app)
    _import(app, 'email,name\nzoë@exämple.com,"Doe, ""JD"" Zoë"\n')
    [row] = _rows(_export(app.test_cli_runner()))
    assert row["name"] == 'Doe, "JD" Zoë' and row["email"] == "zoë@exämple.com"


def test_json_is_one_array_of_objects_keyed_by_column(db_app: Flask) -> None:
    make_newsletter(db_app)
    _import(db_app, "email,name\na@example.com,=A\nb@example.com,\n")
    data = json.loads(_export(db_app.test_cli_runner(), "--format", "json"))
    assert [d["email"] for d in data] == ["a@example.com", "b@example.com"]
    assert list(data[0])[:9] == CONTRACT
    assert data[0]["name"] == "=A"  # JSON is data for programs: never altered
    assert data[1]["name"] is None and data[1]["unsubscribed_at"] is None


def test_empty_export_is_a_header_or_an_empty_array(app: Flask) -> None:
    make_newsletter(app)
    runner = app.test_cli_runner()
    assert _export(runner) == HEADER + "\r\n"
    assert json.loads(_export(runner, "--format", "json")) == []


def test_export_streams_its_rows_and_never_loads_them_all(
        db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    make_newsletter(db_app)
    _import(db_app, "email\n" + "".join(f"r{i}@example.com\n" for i in range(2500)))
    make_admin(db_app)
    client = db_app.test_client()
    log_in(client)
    seen: list[dict[str, Any]] = []
    real_execute = Connection.execute

    def spy(self: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(getattr(statement, "_execution_options", {})))
        return real_execute(self, statement, *args, **kwargs)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an export must not load every row")

    monkeypatch.setattr(Connection, "execute", spy)
    # buffered=False: the body is read below, chunk by chunk, as a server sends it.
    response = client.get("/admin/newsletters/daily/export?format=csv", buffered=False)
    assert response.is_streamed  # nothing read yet: rows are read as the body is sent
    monkeypatch.setattr(Result, "all", refuse)
    monkeypatch.setattr(Result, "fetchall", refuse)
    chunks = list(response.response)
    assert len(chunks) >= 3  # written as it was read, a chunk per 1,000 rows
    assert len(_rows(b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
                     .decode())) == 2500
    assert any(options.get("stream_results") and options.get("max_row_buffer") == 1000
               for options in seen)


def test_console_export_is_an_attachment_and_is_logged(app: Flask) -> None:
    make_newsletter(app)
    make_admin(app)
    client = app.test_client()
    log_in(client)
    response = client.get("/admin/newsletters/daily/export?status=all&format=json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="daily-all-')
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == []
    [entry] = all_rows(app, ExportLog)
    assert (entry.actor, entry.status, entry.format, entry.row_count) == \
        ("admin editor@example.com", "all", "json", None)
    assert "admin editor@example.com" in client.get("/admin/exports").get_data(as_text=True)


def test_the_three_doors_give_the_same_rows(db_app: Flask) -> None:
    make_newsletter(db_app)
    _import(db_app, "email,name\na@example.com,Ann\nb@example.com,=Bob\n")
    make_admin(db_app)
    client = db_app.test_client()
    log_in(client)
    console = _rows(client.get("/admin/newsletters/daily/export").get_data(as_text=True))
    api = _rows(db_app.test_client().get("/api/v1/newsletters/daily/subscribers?status=confirmed"
                                         "&format=csv", headers=bearer(make_api_token(db_app)))
                .get_data(as_text=True))
    cli = _rows(_export(db_app.test_cli_runner()))

    def stable(rows: list[dict[str, str]]) -> list[list[str]]:  # tokens carry their time
        return [[v for k, v in r.items() if k != "unsubscribe_url"] for r in rows]

    assert stable(console) == stable(api) == stable(cli) and len(cli) == 2
    assert {e.actor for e in all_rows(db_app, ExportLog)} == \
        {"admin editor@example.com", "token ci", "cli"}


def test_cli_writes_a_file_and_logs_its_row_count(app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    _import(app, "email\na@example.com\nb@example.com\n")
    target = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(args=["subscribers", "export", "daily", "-o",
                                                str(target)])
    assert result.exit_code == 0, result.output
    assert len(_rows(target.read_text(encoding="utf-8"))) == 2
    assert "Wrote 2 rows" in result.output
    assert all_rows(app, ExportLog)[0].row_count == 2


def test_every_status_is_read_in_export_order_without_a_sort(app: Flask) -> None:
    # Without an index in export order, an export of every status had SQLite sort all its
    # rows (a temporary B-tree) before the first could leave: 3 s at 1,000,000 rows.
    make_newsletter(app)
    _import(app, "email\na@example.com\nb@example.com\n")
    with executed_sql(app) as executed:
        for status in exports.STATUSES:
            assert len(_rows(_export(app.test_cli_runner(), "--status", status))) == (
                0 if status in ("pending", "unsubscribed") else 2)
    queries = [(statement, parameters) for statement, parameters in executed
               if statement.lstrip().startswith("SELECT") and "consent_events" in statement]
    assert len(queries) == len(exports.STATUSES)
    with app.extensions["db_engine"].connect() as connection:
        for statement, parameters in queries:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                              parameters).all()
            assert not [step for step in plan if "TEMP B-TREE" in step[-1]], plan


@pytest.mark.parametrize("args, message", [
    (["nope"], "There is no newsletter 'nope'"),
    (["daily", "--status", "gone"], "Invalid value for '--status'"),
    (["daily", "--format", "xml"], "Invalid value for '--format'"),
])
def test_cli_refuses_unknown_newsletters_statuses_and_formats(
        app: Flask, args: list[str], message: str) -> None:
    make_newsletter(app)
    result = app.test_cli_runner().invoke(args=["subscribers", "export", *args])
    assert result.exit_code != 0 and message in result.output


@pytest.mark.parametrize("missing", ["BASE_URL", "MAILER"])
def test_outside_debug_the_app_refuses_to_start_without_base_url_or_mailer(
        tmp_path: Path, missing: str) -> None:
    """Emailed and exported links never follow a request's Host header, and mail never goes
    silently to the dev mailbox: production must say where both go."""
    config = {"SECRET_KEY": "k" * 32, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
              "BASE_URL": "https://news.example.com", "MAILER": "memory://"}
    del config[missing]
    with pytest.raises(RuntimeError, match=f"NEWSLETTER_{missing} is not set"):
        create_app(config)


def test_emailed_links_ignore_the_host_header(app: Flask, mailer: MemoryMailer) -> None:
    make_newsletter(app)
    client = app.test_client()
    client.post("/newsletters/daily/subscribe", data={"email": "reader@example.com"},
                headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    client.post("/newsletters/daily/subscribe", data={"email": "other@example.com"},
                base_url="http://evil.example")
    raw = b"".join(row.message for row in outbox_rows(app))
    assert b"evil.example" not in raw
    assert all(b"http://newsletters.test/confirm/" in row.message for row in outbox_rows(app))


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_a_trusted_proxy_cannot_change_the_links_either(app: Flask) -> None:
    make_newsletter(app)
    app.test_client().post("/newsletters/daily/subscribe", data={"email": "reader@example.com"},
                           headers={"X-Forwarded-Host": "evil.example",
                                    "X-Forwarded-For": "198.51.100.1"})
    [row] = outbox_rows(app)
    assert b"evil.example" not in row.message
    export = app.test_cli_runner().invoke(args=["subscribers", "export", "daily",
                                                "--status", "all"])
    assert "evil.example" not in export.output and "http://newsletters.test/" in export.output


def test_signups_go_on_while_a_long_export_reads(db_app: Flask) -> None:
    """On SQLite the export reads in a deferred transaction: it holds no write lock."""
    import sqlite3

    from newsletter_service import exports
    from newsletter_service.newsletters import find_newsletter

    make_newsletter(db_app)
    _import(db_app, "email\n" + "".join(f"r{i}@example.com\n" for i in range(2500)))
    engine = db_app.extensions["db_engine"]
    with open_session(db_app) as session:
        spec = exports.ExportSpec(find_newsletter(session, "daily"))
        chunks = exports.export(session, spec, "test")
        first = next(chunks)  # the export is reading now, its transaction open
        if engine.dialect.name == "sqlite":  # a writer that must not wait at all
            writer = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")  # "database is locked" if the export held it
            writer.execute("ROLLBACK")
            writer.close()
        subscribe(db_app, "during.export@example.com")
        rest = "".join(chunks)
    assert first.startswith("email,name,newsletter")
    assert (first + rest).count("\n") == 2500 + 1


@pytest.mark.parametrize("door", ["api", "console"])
def test_csv_content_type_names_its_charset_once(app: Flask, door: str) -> None:
    make_newsletter(app)
    client = app.test_client()
    if door == "api":
        response = client.get("/api/v1/newsletters/daily/subscribers",
                              headers=bearer(make_api_token(app)))
    else:
        make_admin(app)
        log_in(client)
        response = client.get("/admin/newsletters/daily/export")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_every_text_cell_is_neutralized_not_only_the_typed_ones(db_app: Flask) -> None:
    make_newsletter(db_app)
    subscription = subscribe(db_app, "reader@example.com")
    _confirm(db_app, subscription.id)
    with db_app.extensions["db_engine"].begin() as connection:  # as rows stored before
        connection.execute(text("UPDATE consent_events SET ip = '=cmd|calc'"))
        connection.execute(text("UPDATE subscriptions SET source = '@SUM(1)'"))
    [row] = _rows(_export(db_app.test_cli_runner()))
    assert (row["signup_ip"], row["confirmation_ip"], row["source"]) == \
        ("'=cmd|calc", "'=cmd|calc", "'@SUM(1)")
    assert [cell for cell in row.values() if cell.startswith(("=", "+", "-", "@"))] == []
    [raw] = _rows(_export(db_app.test_cli_runner(), "--raw"))
    assert raw["signup_ip"] == "=cmd|calc"


@pytest.mark.app_config(TRUSTED_PROXIES=1)
@pytest.mark.parametrize(("forwarded", "stored"), [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:DB8::1", "2001:db8::1"),
    ("=HYPERLINK(\"http://evil.example\")", None),
    ("-2+3", None),
    ("x" * 100, None),  # past String(45): PostgreSQL refused the row, the signup got a 500
])
def test_signup_ip_from_a_forwarded_header_is_stored_only_if_it_is_an_address(
        db_app: Flask, forwarded: str, stored: str | None) -> None:
    make_newsletter(db_app)
    response = db_app.test_client().post("/newsletters/daily/subscribe",
                                         json={"email": "reader@example.com"},
                                         headers={"X-Forwarded-For": forwarded})
    assert response.status_code == 200
    [event] = all_rows(db_app, ConsentEvent)
    assert event.ip == stored
    [row] = _rows(_export(db_app.test_cli_runner(), "--status", "all"))
    assert row["signup_ip"] == (stored or "")


@pytest.mark.parametrize(("source", "stored"), [
    ("https://pub.example/story?token=reader-secret#top", "https://pub.example/story"),
    ("https://user:pw@pub.example:8443/a", "https://pub.example:8443/a"),
    ("javascript:alert(1)", ""),
    ("data:text/html,<script>alert(1)</script>", ""),
    ("Spring fair 2024", "Spring fair 2024"),  # a label, not a URL: kept as it is
])
def test_imported_sources_keep_only_an_http_pages_origin_and_path(
        app: Flask, source: str, stored: str) -> None:
    make_newsletter(app)
    _import(app, f'email,source\nreader@example.com,"{source}"\n')
    [row] = _rows(_export(app.test_cli_runner()))
    assert row["source"] == stored
