"""Imports: bad rows reported by line, no duplicates, confirmed or pending with emails."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from newsletter_service import bulk, imports
from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

from .admin_support import form_post, log_in, make_admin
from .factories import (
    all_rows,
    deliver,
    link_in,
    make_newsletter,
    open_session,
    outbox_rows,
    subscribe,
)
from .test_confirmation_codes import code_in


def _import(runner: FlaskCliRunner, tmp_path: Path, text: str | bytes, *args: str,
            slug: str = "daily") -> tuple[int, str, str]:
    source = tmp_path / "readers.csv"
    if isinstance(text, str):
        source.write_text(text, encoding="utf-8")
    else:
        source.write_bytes(text)
    result = runner.invoke(args=["subscribers", "import", slug, str(source), *args])
    return result.exit_code, result.stdout, result.stderr


def test_bad_rows_are_reported_by_line_and_the_rest_imported(
        db_app: Flask, tmp_path: Path) -> None:
    make_newsletter(db_app)
    text = ("email,name,created_at\n"
            "good@example.com,Good,2024-01-02T03:04:05Z\n"
            "not-an-address,Bad,\n"
            "\n"
            "also.good@example.com,,\n"
            "x@example.com,,yesterday\n"
            f"{'a' * 65}@example.com,,\n")
    code, out, err = _import(db_app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert code == 0
    assert "Added 2," in out and "bad rows 3" in out
    assert "line 3: 'not-an-address'" in err
    assert "line 6: created_at 'yesterday'" in err
    assert "line 7:" in err
    subscriptions = all_rows(db_app, Subscription)
    assert [s.status for s in subscriptions] == [SubscriptionStatus.confirmed] * 2
    assert subscriptions[0].created_at.isoformat() == "2024-01-02T03:04:05+00:00"
    assert subscriptions[0].name == "Good"


def test_a_bad_row_after_blank_lines_is_reported_by_its_own_line(
        app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    text = "email,name\na@example.com,A\n\n\nnot-an-address,B\n\"two\nlines\",C\n"
    _, out, err = _import(app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert "Added 1," in out
    assert err.splitlines()[-2:] == [
        "line 5: 'not-an-address': An email address must have an @-sign.",
        "line 6: 'two\\nlines': An email address must have an @-sign."]


@pytest.mark.parametrize(("text", "stored"), [
    (b"email,name\na@example.com,A,\xff\n", ("a@example.com", "A")),  # past the header: ignored
    (b"name,email,Name\nX,a@example.com,A\n", ("a@example.com", "A")),  # twice: the last counts
    (b"Source,EMAIL\nsomewhere,a@example.com\n", ("a@example.com", None)),  # no name column
])
def test_cells_are_picked_by_the_headers_column(app: Flask, tmp_path: Path, text: bytes,
                                                stored: tuple[str, str | None]) -> None:
    make_newsletter(app)
    _, out, _ = _import(app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert "Added 1," in out and "bad rows 0" in out
    [subscription] = all_rows(app, Subscription)
    with open_session(app) as session:
        email = session.get_one(Subscriber, subscription.subscriber_id).email
    assert (email, subscription.name) == stored


def test_existing_readers_are_neither_duplicated_nor_changed(
        db_app: Flask, tmp_path: Path) -> None:
    make_newsletter(db_app)
    subscribe(db_app, "Known@Example.com")  # pending, with a confirmation email
    text = "email\nknown@example.com\nKNOWN@example.com\nnew@example.com\nnew@example.com\n"
    code, out, _ = _import(db_app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert code == 0 and "Added 1, already there 3" in out
    assert len(all_rows(db_app, Subscriber)) == 2
    statuses = {s.subscriber_id: s.status for s in all_rows(db_app, Subscription)}
    assert sorted(statuses.values()) == [SubscriptionStatus.confirmed, SubscriptionStatus.pending]
    again = _import(db_app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert "Added 0, already there 4" in again[1]


def test_confirmed_import_records_an_imported_consent_event_and_sends_nothing(
        db_app: Flask, tmp_path: Path) -> None:
    make_newsletter(db_app)
    _import(db_app.test_cli_runner(), tmp_path, "email,source\na@example.com,https://x.test/p\n",
            "--confirmed")
    [subscription] = all_rows(db_app, Subscription)
    assert subscription.confirmed_at is not None and subscription.source == "https://x.test/p"
    [event] = all_rows(db_app, ConsentEvent)
    assert event.kind is ConsentEventKind.imported and event.source == "import by cli"
    assert outbox_rows(db_app) == []


def test_pending_import_queues_a_confirmation_email_per_reader(
        db_app: Flask, tmp_path: Path) -> None:
    make_newsletter(db_app)
    code, out, _ = _import(db_app.test_cli_runner(), tmp_path,
                           "email\na@example.com\nb@example.com\n")
    assert code == 0 and "confirmation emails queued 2" in out
    assert [s.status for s in all_rows(db_app, Subscription)] == [SubscriptionStatus.pending] * 2
    assert sorted(m.recipient for m in outbox_rows(db_app)) == ["a@example.com", "b@example.com"]
    assert {m.kind for m in outbox_rows(db_app)} == {"confirm"}


@pytest.mark.app_config(CONFIRM_MAX_PER_DAY=1)
def test_pending_import_respects_the_confirmation_throttle(app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    make_newsletter(app, slug="weekly", name="Weekly")
    subscribe(app, "busy@example.com", slug="weekly")  # one confirmation today already
    _, out, _ = _import(app.test_cli_runner(), tmp_path, "email\nbusy@example.com\n")
    assert "Added 1" in out and "confirmation emails queued 0" in out
    assert len(outbox_rows(app)) == 1


@pytest.mark.parametrize("confirmed", [True, False])
def test_batches_commit_as_they_go(db_app: Flask, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, confirmed: bool) -> None:
    monkeypatch.setattr(imports, "CONFIRMED_BATCH_SIZE" if confirmed else "BATCH_SIZE", 10)
    monkeypatch.setattr(bulk, "ROWS_PER_STATEMENT", 3)
    make_newsletter(db_app)
    rows = "".join(f"r{i % 30}@example.com\n" for i in range(35))  # 5 repeats
    _, out, _ = _import(db_app.test_cli_runner(), tmp_path, "email\n" + rows,
                        *(["--confirmed"] if confirmed else []))
    assert "Added 30, already there 5," in out
    with open_session(db_app) as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 30
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 30


def test_bytes_that_are_not_utf8_are_a_bad_row(app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    text = b"email,name\na@example.com,ok\n" + b"b@example.com,\xff\xfe\n"
    code, out, err = _import(app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert code == 0 and "Added 1" in out and "line 3: not UTF-8 text" in err


def test_a_bom_and_header_case_are_accepted(app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    code, out, _ = _import(app.test_cli_runner(), tmp_path, "\ufeffEmail , Name\na@example.com,A\n",
                           "--confirmed")
    assert code == 0 and "Added 1" in out


@pytest.mark.parametrize("text", ["", "name,source\nx,y\n"])
def test_a_file_without_an_email_column_fails_whole(app: Flask, tmp_path: Path,
                                                     text: str) -> None:
    make_newsletter(app)
    code, _, err = _import(app.test_cli_runner(), tmp_path, text, "--confirmed")
    assert code == 1 and "'email'" in err
    assert all_rows(app, Subscription) == []


def test_import_into_an_unknown_newsletter_fails(app: Flask, tmp_path: Path) -> None:
    code, _, err = _import(app.test_cli_runner(), tmp_path, "email\na@example.com\n",
                           slug="nope")
    assert code == 1 and "There is no newsletter 'nope'" in err


def test_console_upload_imports_and_lists_bad_lines(app: Flask) -> None:
    import io

    make_newsletter(app)
    make_admin(app)
    client = app.test_client()
    log_in(client)
    body = ("email\n" + "".join(f"reader{i}@example.com\n" for i in range(3000)) + "bad\n")
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]  # bigger than any other request
    response = form_post(client, "/admin/newsletters/daily/import", {
        "file": (io.BytesIO(body.encode()), "readers.csv"), "confirmed": "y"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Added 3000" in page and "<td class=\"num\">3002</td>" in page
    with open_session(app) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.app_config(ADMIN_UPLOAD_MAX_BYTES=1000)
def test_console_upload_has_its_own_size_limit(app: Flask) -> None:
    import io

    make_newsletter(app)
    make_admin(app)
    client = app.test_client()
    log_in(client)
    response = form_post(client, "/admin/newsletters/daily/import", {
        "file": (io.BytesIO(b"email\n" + b"a@example.com\n" * 200), "readers.csv")})
    assert response.status_code == 413


@pytest.mark.app_config(CONFIRM_MAX_PER_DAY=2)  # small, so one file can pass it
def test_pending_import_counts_one_mailboxs_variants_within_a_file(
        db_app: Flask, tmp_path: Path) -> None:
    make_newsletter(db_app)
    _, out, _ = _import(db_app.test_cli_runner(), tmp_path,
                        "email\nann+1@example.com\nann+2@example.com\nAnn+3@example.com\n"
                        "bob@example.com\n")
    assert "Added 4" in out and "confirmation emails queued 3" in out
    assert sorted(m.recipient for m in outbox_rows(db_app)) == [
        "ann+1@example.com", "ann+2@example.com", "bob@example.com"]


def test_an_imported_readers_link_and_code_confirm(app: Flask, tmp_path: Path,
                                                   mailer: MemoryMailer) -> None:
    make_newsletter(app)
    _import(app.test_cli_runner(), tmp_path, "email\na@example.com\nb@example.com\n")
    deliver(app)
    by_recipient = {m["To"]: m for m in mailer.outbox}
    client = app.test_client()
    assert client.post(link_in(by_recipient["a@example.com"])).status_code == 200
    code = code_in(by_recipient["b@example.com"])
    response = client.post("/confirm/code", json={"email": "b@example.com", "code": code})
    assert response.status_code == 200, response.get_json()
    assert [s.status for s in all_rows(app, Subscription)] == [SubscriptionStatus.confirmed] * 2
