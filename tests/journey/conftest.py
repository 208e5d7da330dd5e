"""A deployment as an operator runs it: gunicorn, the worker, a real SMTP server, the CLI.

Nothing here imports the app: the suite sees the service from outside, over HTTP and through
the console script, with a production environment (no debug, a secret key, a base URL, an
SMTP relay). One deployment serves a whole test module per database, so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from http.client import HTTPConnection, HTTPMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest
from sqlalchemy.engine import make_url

from ..conftest import DEFAULT_POSTGRES_URL, skip_or_fail
from ..servers import ROOT, Gunicorn, free_port
from ..smtp_sink import ReceivedMail, SMTPSink

SCRIPT = str(Path(sys.executable).parent / "newsletter-service")
MAIL_FROM = "news@example.com"
MAIL_DEADLINE_SECONDS = 20  # the worker polls every 0.2 s: mail comes within a second or two
NEWSLETTERS = {"daily": "The Daily", "weekly": "The Weekly", "digest": "The Digest"}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers and the body's bytes."""

    status: int
    headers: HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def cookies(self) -> list[str]:
        """Return the Set-Cookie headers (none is what a capability link must answer)."""
        return self.headers.get_all("Set-Cookie") or []

    def __str__(self) -> str:  # what an assertion message shows
        body = " ".join(re.sub(r"<[^>]+>", " ", self.text).split())
        return f"{self.status}: {body[:400]}"


class Deployment:
    """The service as deployed: its URL, its mail relay and its command line."""

    def __init__(self, env: dict[str, str], url: str, sink: SMTPSink, worker_log: Path) -> None:
        self.env = env
        self.url = url
        self.sink = sink
        self.worker_log = worker_log
        self.worker: subprocess.Popen[bytes] | None = None
        self.server_log = worker_log.with_name("gunicorn.log")

    def cli(self, *args: str) -> bytes:
        """Run ``newsletter-service ARGS`` as an operator would; return its standard output."""
        done = subprocess.run([SCRIPT, *args], cwd=ROOT, env=self.env, capture_output=True,
                              timeout=60)
        assert done.returncode == 0, (f"newsletter-service {' '.join(args)} exited "
                                      f"{done.returncode}: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def request(self, method: str, target: str, *, form: Mapping[str, str] | None = None,
                json_body: Any = None, headers: Mapping[str, str] | None = None) -> Answer:
        """Send one request with exactly these headers: no cookie jar, no redirects."""
        parts = urlsplit(target if "://" in target else self.url + target)
        assert f"{parts.scheme}://{parts.netloc}" == self.url, f"{target} is not ours"
        sent = dict(headers or {})
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = HTTPConnection(parts.hostname or "", parts.port, timeout=15)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def wait_for_mail(self, recipient: str, subject: str) -> EmailMessage:
        """Return the mail to ``recipient`` with ``subject``, polling until a deadline."""
        deadline = time.monotonic() + MAIL_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            for mail in self.sink.received:
                if recipient in mail.rcpt_tos and mail.message["Subject"] == subject:
                    return mail.message
            time.sleep(0.1)
        pytest.fail(f"no mail '{subject}' to {recipient} within {MAIL_DEADLINE_SECONDS} s; "
                    f"the relay got {describe(self.sink.received)}; "
                    f"the worker logged: {self.worker_output()[-2000:]}")

    def mails_to(self, recipient: str) -> list[EmailMessage]:
        return [mail.message for mail in self.sink.received if recipient in mail.rcpt_tos]

    def wait_for_worker(self) -> None:
        """Wait for the worker's first line: from then on SIGTERM stops it cleanly."""
        assert self.worker is not None
        deadline = time.monotonic() + 30
        while not self.worker_output():
            assert self.worker.poll() is None, f"the worker exited {self.worker.returncode}"
            assert time.monotonic() < deadline, "the worker said nothing within 30 s"
            time.sleep(0.05)

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")

    def server_output(self) -> str:
        return self.server_log.read_text(errors="replace") if self.server_log.exists() else ""

    def explain(self, step: str, answer: Answer) -> str:
        """Describe an unexpected answer, with the server's last traceback when it has one."""
        log = self.server_output()
        start = log.rfind("Traceback")
        traceback = log[start:][-3000:] if start >= 0 and answer.status >= 500 else ""
        return f"{step}: {answer}" + (f"\nthe server logged:\n{traceback}" if traceback else "")


def describe(received: list[ReceivedMail]) -> str:
    return repr([(mail.rcpt_tos, mail.message["Subject"]) for mail in received]) or "nothing"


def link_in(message: EmailMessage, base_url: str, path: str) -> str:
    """Return the first link under ``base_url + path`` in the mail's text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text part"
    text = str(part.get_content())
    found = re.search(re.escape(base_url + path) + r"[A-Za-z0-9_.~%\-]+", text)
    assert found, f"no {path} link in the text part: {text}"
    return found.group(0)


def production_env(database_url: str, port: int, sink: SMTPSink) -> dict[str, str]:
    """Return a production environment: no debug, every NEWSLETTER_ setting from us alone."""
    inherited = {key: value for key, value in os.environ.items()
                 if not key.startswith(("NEWSLETTER_", "FLASK_"))}
    return {
        **inherited,
        "FLASK_DEBUG": "0",  # overrides a developer's shell, as Gunicorn merges os.environ
        "NEWSLETTER_SECRET_KEY": f"journey-{uuid.uuid4().hex}",
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
        "NEWSLETTER_MAILER": f"smtp://{sink.host}:{sink.port}",
        "NEWSLETTER_MAIL_FROM": MAIL_FROM,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_WORKER_POLL_SECONDS": "0.2",
    }


@contextlib.contextmanager
def deployment(database_url: str, sink: SMTPSink, workdir: Path) -> Iterator[Deployment]:
    """Migrate, add the newsletters, then run one worker and gunicorn with two."""
    port = free_port()
    env = production_env(database_url, port, sink)
    service = Deployment(env, f"http://127.0.0.1:{port}", sink, workdir / "worker.log")
    service.cli("db", "upgrade")
    for slug, name in NEWSLETTERS.items():
        service.cli("newsletters", "add", slug, "--name", name)
    with service.worker_log.open("wb") as log:  # started first: it boots while gunicorn does
        worker = subprocess.Popen([SCRIPT, "worker"], cwd=ROOT, stdout=log,
                                  env={**env, "PYTHONUNBUFFERED": "1"},  # its log as it goes
                                  stderr=subprocess.STDOUT)
    service.worker = worker
    try:
        with serving(service, port):
            service.wait_for_worker()
            yield service
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            code = worker.wait()
    # After the tests: a worker that does not stop cleanly on SIGTERM is a finding too.
    assert code == 0, f"the worker exited {code} on SIGTERM: {service.worker_output()[-2000:]}"


@contextlib.contextmanager
def serving(service: Deployment, port: int) -> Iterator[Gunicorn]:
    """Run ``gunicorn wsgi:app`` with two workers, its error log in a file the tests read."""
    try:
        # A file, never a pipe that fills up and blocks the server: tests read the app's errors.
        server = Gunicorn({**service.env, "GUNICORN_CMD_ARGS": f"--error-logfile "
                                                              f"{service.server_log}"},
                          workers=2, port=port)
    except RuntimeError as error:
        raise RuntimeError(f"{error}: {service.server_output()}") from None
    try:
        yield server
    finally:
        server.stop()


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'newsletter.sqlite3'}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throw-away PostgreSQL database (empty: the CLI migrates it); drop it after."""
    admin_url = make_url(os.environ.get("NEWSLETTER_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    libpq_url = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        skip_or_fail("postgres", f"PostgreSQL at {admin_url} does not answer: {error}")
    name = f"newsletter_journey_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield sqlite_url(workdir)


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The service on each database in turn, its relay offering SMTPUTF8 (as big ones do)."""
    workdir = tmp_path_factory.mktemp(f"journey-{request.param}")
    with database(request.param, workdir) as url, SMTPSink(smtputf8=True) as sink, \
            deployment(url, sink, workdir) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def service_with_ascii_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The service on SQLite behind a relay that does not offer SMTPUTF8."""
    workdir = tmp_path_factory.mktemp("journey-ascii-relay")
    with SMTPSink(smtputf8=False) as sink, \
            deployment(sqlite_url(workdir), sink, workdir) as deployed:
        yield deployed
