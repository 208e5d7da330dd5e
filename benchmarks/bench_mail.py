"""Benchmark 2 (issue 7): confirmation emails per second, worker against raw smtplib.

    .venv/bin/python benchmarks/bench_mail.py [--quick] [--db sqlite|postgresql]

5,000 confirmation emails (500 with --quick), rendered once by the service's own
``emails.confirmation_email`` with real confirm links, are queued in the outbox in bulk
(the rows ``outbox.enqueue`` writes). The service drains them with ``worker.deliver_once``
loops (the ``newsletter-service worker --once`` code path, in-process) over SMTPMailer to
a local aiosmtpd sink. The floor sends the same messages' bytes with ``smtplib.SMTP``
over one reused connection. The sink only counts, runs in its own process on core 0;
the sender runs on core 1. Rounds alternate, 3 each; prints msg/s and the ratio.
"""

from __future__ import annotations

import email.policy
import multiprocessing
import os
import smtplib
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402
from sqlalchemy import delete, insert  # noqa: E402

from benchmarks.common import (  # noqa: E402
    BASE_URL,
    LOAD_CPU,
    SECRET_KEY,
    SECTION,
    SERVER_CPU,
    Result,
    create_newsletter,
    database,
    kinds_to_run,
    log,
    markdown,
    median_of_rounds,
    quick_flag,
    throughput,
)
from newsletter_service import create_app, emails, links, worker  # noqa: E402
from newsletter_service.models import (  # noqa: E402
    OutboxMessage,
    Subscriber,
    Subscription,
    utcnow,
)
from newsletter_service.tokens import Purpose, make_token  # noqa: E402
from tests.servers import free_port  # noqa: E402

TARGET = 0.8
MAIL_FROM = "newsletter@localhost.localdomain"


# --- the sink: its own process, so that it does not share the sender's GIL -------------------

def _serve_sink(port: int, count: Any, ready: Any, stop: Any) -> None:
    """Run an aiosmtpd server on ``port`` that counts messages and keeps nothing."""
    from aiosmtpd.controller import Controller

    os.sched_setaffinity(0, {int(SERVER_CPU)})

    class CountingHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(CountingHandler(), hostname="127.0.0.1", port=port,
                            enable_SMTPUTF8=True)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """A counting SMTP sink in a child process, with its CPU time for a busy figure."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.count = context.Value("q", 0)
        self._ready, self._stop = context.Event(), context.Event()
        self.process = context.Process(target=_serve_sink, daemon=True,
                                       args=(self.port, self.count, self._ready, self._stop))
        self.process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

    @property
    def received(self) -> int:
        return int(self.count.value)

    def cpu_seconds(self) -> float:
        """Return the sink process's user + system CPU time so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()


# --- the messages ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Queued:
    subscriber_id: int
    subscription_id: int
    recipient: str
    raw: bytes


def seed_readers(app: Flask, n: int) -> None:
    """Add ``n`` pending readers of newsletter 1 in bulk (ids 1..n)."""
    now = utcnow()
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(insert(Subscriber), [
            {"id": i, "email": _address(i), "email_key": _address(i), "created_at": now}
            for i in range(1, n + 1)])
        session.execute(insert(Subscription), [
            {"id": i, "subscriber_id": i, "newsletter_id": 1, "status": "pending",
             "token_version": 1, "consent_given": False, "created_at": now}
            for i in range(1, n + 1)])
        session.commit()


def render_confirmations(app: Flask, n: int) -> list[Queued]:
    """Render reader i's confirmation email with the service's own code, for i in 1..n."""
    started = time.perf_counter()
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        from newsletter_service.models import Newsletter

        newsletter = session.get(Newsletter, 1)
        assert newsletter is not None
        queued = []
        for i in range(1, n + 1):
            token = make_token(SECRET_KEY, Purpose.confirm, [(i, 1)])
            message = emails.confirmation_email(newsletter, _address(i), links.confirm_url(token))
            queued.append(Queued(i, i, _address(i),
                                 message.as_bytes(policy=email.policy.SMTPUTF8)))
    log(f"  rendered {n} confirmation emails in {time.perf_counter() - started:.1f} s "
        f"({len(queued[0].raw)} bytes each)")
    return queued


def enqueue_all(app: Flask, queued: list[Queued]) -> None:
    """Empty the outbox and queue every message, due now (the rows outbox.enqueue writes)."""
    now = utcnow()
    due = now - timedelta(seconds=1)
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(OutboxMessage))
        session.execute(insert(OutboxMessage), [
            {"kind": "confirm", "subscriber_id": q.subscriber_id,
             "subscription_id": q.subscription_id, "recipient": q.recipient, "message": q.raw,
             "sender": MAIL_FROM, "status": "pending", "attempts": 0, "next_attempt_at": due,
             "created_at": now}
            for q in queued])
        session.commit()


def _address(i: int) -> str:
    return f"reader{i}@example.com"


# --- the two sides ---------------------------------------------------------------------------

def drain_with_worker(app: Flask, sink: Sink, queued: list[Queued]) -> dict[str, float]:
    """Queue every message, then time deliver_once loops until the outbox is empty."""
    enqueue_all(app, queued)
    before, cpu_before = sink.received, sink.cpu_seconds()
    started = time.perf_counter()
    sent = 0
    while (report := worker.deliver_once(app)).claimed:
        sent += report.sent
        if report.retrying or report.failed:
            raise RuntimeError(f"delivery failed: {report.errors[:3]}")
    elapsed = time.perf_counter() - started
    return _figures(len(queued), sent, sink, before, cpu_before, elapsed)


def send_raw(sink: Sink, queued: list[Queued]) -> dict[str, float]:
    """Send the same bytes with smtplib over one connection: the floor."""
    before, cpu_before = sink.received, sink.cpu_seconds()
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
    for q in queued:
        smtp.sendmail(MAIL_FROM, [q.recipient], q.raw)
    smtp.quit()
    elapsed = time.perf_counter() - started
    return _figures(len(queued), len(queued), sink, before, cpu_before, elapsed)


def _figures(n: int, sent: int, sink: Sink, before: int, cpu_before: float,
             elapsed: float) -> dict[str, float]:
    arrived = sink.received - before
    if sent != n or arrived != n:
        raise RuntimeError(f"expected {n} messages, sent {sent}, the sink got {arrived}")
    return {"msg_s": n / elapsed, "sink_busy": (sink.cpu_seconds() - cpu_before) / elapsed}


def measure(kind: str, quick: bool, queued_cache: dict[int, list[Queued]],
            rounds: int = 3) -> list[Result]:
    """Run the mail benchmark on a fresh database of ``kind``."""
    n = 500 if quick else 5000
    section = SECTION[kind]
    with database(kind) as url, Sink() as sink:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "BASE_URL": BASE_URL,
                          "MAILER": f"smtp://127.0.0.1:{sink.port}", "MAIL_FROM": MAIL_FROM,
                          "RATELIMIT_ENABLED": False})
        try:
            create_newsletter(app.extensions["db_engine"])
            seed_readers(app, n)
            if n not in queued_cache:  # the same bytes serve both databases
                queued_cache[n] = render_confirmations(app, n)
            queued = queued_cache[n]
            log(f"{section}: mail, {n} messages, worker batch size "
                f"{app.config['WORKER_BATCH_SIZE']}, {rounds} rounds each")
            ours, bare = median_of_rounds(lambda: drain_with_worker(app, sink, queued),
                                          lambda: send_raw(sink, queued), rounds, label="mail")
        finally:
            app.extensions["db_engine"].dispose()
    note = (f"{n} messages of {len(queued[0].raw):,} bytes; sink CPU busy {ours['sink_busy']:.0%}"
            f" (service) / {bare['sink_busy']:.0%} (floor) of one core")
    return [throughput(section, "confirmation mail", ours["msg_s"], bare["msg_s"], "msg/s",
                       TARGET, note)]


def main(argv: list[str] | None = None) -> list[Result]:
    """Run on SQLite and PostgreSQL; print and return the rows."""
    quick, kinds = quick_flag(argv)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # the sender; the sink has the other core
    try:
        cache: dict[int, list[Queued]] = {}
        results = [r for kind in kinds_to_run(kinds) for r in measure(kind, quick, cache)]
    finally:
        os.sched_setaffinity(0, affinity)
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
