"""What the benchmarks share: databases, gunicorn, wrk, alternating rounds, the table.

Machines here are shared and noisy, so a figure alone means little: every benchmark
runs the service and its floor in the same run, in alternating rounds, and reports the
median of each and their ratio. All load goes to 127.0.0.1 and is bounded in time.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` as well as `-m benchmarks.x`
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from newsletter_service import migrate  # noqa: E402
from newsletter_service.db import make_engine  # noqa: E402
from tests.servers import free_port, stop_process  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("NEWSLETTER_BENCH_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_CPU = "0"  # gunicorn (and the SMTP sink) on one core ...
LOAD_CPU = "1"  # ... wrk (and the sender) on the other
SECRET_KEY = "benchmark-secret-key-not-for-production"
BASE_URL = "http://newsletters.bench"
SLUG = "bench"
KINDS = ("sqlite", "postgresql")
SECTION = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """One row of the table: the service's figure, its floor's, and how they compare.

    ``ratio`` is oriented so that higher is better for the service (throughput
    service/floor, latency floor/service), unless ``ratio_note`` says otherwise.
    """

    section: str  # "SQLite" or "PostgreSQL"
    what: str
    service: float
    floor: float
    unit: str
    ratio: float
    target: float
    higher_is_better: bool = True  # of the ratio, against the target
    note: str = ""

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def row(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        met = "yes" if self.met else "**no**"
        return (f"| {self.what} | {_fmt(self.service)} {self.unit} | {_fmt(self.floor)} "
                f"{self.unit} | {self.ratio:.2f} | {sign} {self.target:g} | {met} |")


TABLE_HEADER = ("| what | service | floor | ratio | target | met? |\n"
                "| --- | ---: | ---: | ---: | ---: | :---: |")


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def markdown(results: list[Result]) -> str:
    """Return the results as markdown, one table per section (SQLite, then PostgreSQL)."""
    parts = []
    for section in dict.fromkeys(r.section for r in results):
        rows = [r for r in results if r.section == section]
        parts.append(f"### {section}\n\n{TABLE_HEADER}\n" + "\n".join(r.row() for r in rows))
        notes = [f"- {r.what}: {r.note}" for r in rows if r.note]
        if notes:
            parts.append("\n".join(notes))
    return "\n\n".join(parts) + "\n"


def throughput(section: str, what: str, service: float, floor: float, unit: str,
               target: float, note: str = "") -> Result:
    """Return a row where more is better (req/s, msg/s): ratio service/floor."""
    return Result(section, what, service, floor, unit, service / floor if floor else 0.0,
                  target, True, note)


def latency(section: str, what: str, service: float, floor: float, unit: str = "ms",
            target: float = 0.5, note: str = "") -> Result:
    """Return a row where less is better (latency): ratio floor/service."""
    return Result(section, what, service, floor, unit, floor / service if service else 0.0,
                  target, True, note)


# --- rounds ----------------------------------------------------------------------------------

Measure = Callable[[], Mapping[str, float]]


def median_of_rounds(service_fn: Measure, floor_fn: Measure, rounds: int = 3,
                     label: str = "") -> tuple[dict[str, float], dict[str, float]]:
    """Run service and floor alternately ``rounds`` times each; return per-metric medians."""
    service: list[Mapping[str, float]] = []
    floor: list[Mapping[str, float]] = []
    for index in range(rounds):
        # Alternate who goes first too, so neither always gets the warmer (or noisier) slot.
        order = [(service_fn, service, "service"), (floor_fn, floor, "floor")]
        for fn, sink, name in order if index % 2 == 0 else order[::-1]:
            figures = fn()
            sink.append(figures)
            log(f"  {label} round {index + 1} {name}: {_brief(figures)}")
    return medians(service), medians(floor)


def medians(samples: list[Mapping[str, float]]) -> dict[str, float]:
    """Return the median of each metric over ``samples``."""
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _brief(figures: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in figures.items())


def log(message: str) -> None:
    """Progress goes to stderr; the markdown rows go to stdout."""
    print(message, file=sys.stderr, flush=True)


# --- databases -------------------------------------------------------------------------------

@contextmanager
def database(kind: str) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database of ``kind``; remove it afterwards."""
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
        try:
            url = f"sqlite:///{directory / 'bench.sqlite3'}"
            _migrate(url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT",
                        connect_args={"connect_timeout": 3})
    name = f"newsletter_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> str | None:
    """Return None when PostgreSQL answers, else why not."""
    try:
        engine = make_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {error}"
    return None


def kinds_to_run(requested: list[str]) -> list[str]:
    """Return the database kinds to run, leaving PostgreSQL out (said why) if it is down."""
    kinds = requested or list(KINDS)
    if "postgresql" in kinds and (why := postgres_available()):
        log(f"skipping PostgreSQL: {why}")
        kinds = [k for k in kinds if k != "postgresql"]
    return kinds


def _migrate(url: str) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def create_newsletter(engine: Engine, slug: str = SLUG) -> int:
    """Create the newsletter the benchmarks sign up to, through the service; return its id."""
    from sqlalchemy.orm import Session

    from newsletter_service.newsletters import create_newsletter as create

    with Session(engine, expire_on_commit=False) as session:
        return create(session, slug, "The Benchmark Daily").id


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of the service under load (rate limits off: one client IP)."""
    return {"NEWSLETTER_DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET_KEY,
            "NEWSLETTER_MAILER": "memory://", "NEWSLETTER_BASE_URL": BASE_URL,
            "NEWSLETTER_RATELIMIT_ENABLED": "false", **extra}


# --- gunicorn and wrk ------------------------------------------------------------------------

# Sync workers, as the README deploys them; 2 workers on the server's one core. Sync
# workers answer one request per connection (no keep-alive): the same for service and
# floor. The heartbeat file goes to /dev/shm so a slow disk cannot stall a worker; no
# access log (it would cost both sides a write per request).
GUNICORN_SETTINGS = ["--workers", "2", "--worker-class", "sync", "--backlog", "128",
                     "--timeout", "30", "--worker-tmp-dir", "/dev/shm",
                     "--log-level", "warning"]


WORKER_ENV = {"NEWSLETTER_WORKER_POLL_SECONDS": "3600"}


def wait_for_signups(engine: Engine, timeout: float = 30) -> int:
    """Wait until the worker has carried out every signup; return how many are left."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as db:
            left = int(db.scalar(text("SELECT count(*) FROM signup_requests")) or 0)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


class Server:
    """``taskset -c 0 gunicorn <app>`` on a free loopback port; a context manager."""

    def __init__(self, app_spec: str, env: Mapping[str, str], health_path: str = "/healthz",
                 worker: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.command = ["taskset", "-c", SERVER_CPU, gunicorn, *GUNICORN_SETTINGS,
                        "--bind", f"127.0.0.1:{self.port}", app_spec]
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env={**os.environ, **env},
                                        stdout=self._log, stderr=subprocess.STDOUT, text=True)
        # The service's worker, on the server's core: it carries out the signups a busy
        # web process leaves to it, and its time counts against the service. Its mail and
        # webhook loops look once an hour: sending is measured by bench_mail.py.
        self.worker = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, str(Path(sys.executable).parent / "newsletter-service"),
             "worker"], cwd=ROOT, env={**os.environ, **env, **WORKER_ENV},
            stdout=self._log, stderr=subprocess.STDOUT, text=True) if worker else None
        self._wait_until_up(health_path)

    def _wait_until_up(self, path: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}{path}", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within 30 s: {self.output()}")

    def output(self) -> str:
        if self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> str:
        """Stop the server and its worker (SIGTERM) and return what they logged."""
        for process in (self.process, self.worker):
            if process is not None:
                stop_process(process)
        output = self.output()
        self._log.close()
        return output

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        output = self.stop()
        if "Traceback" in output:
            log(f"gunicorn {self.command[-1]} logged a traceback:\n{output[-3000:]}")


WRK_SCRIPT = r"""
-- POST a JSON signup with an address no other request of this run uses.
local counter = 0
local prefix = "x"
local next_tid = 0
tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  prefix = args[1] or tostring(os.time())
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  counter = counter + 1
  local body = string.format('{"email": "r.%s.t%d.%d.%d@example.com"}',
                             prefix, tid, counter, math.random(0, 999999))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_binary() -> str:
    """Return wrk's path, installing the Debian package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


_script_path: Path | None = None


def _wrk_script() -> Path:
    global _script_path
    if _script_path is None:
        handle, name = tempfile.mkstemp(prefix="signup-", suffix=".lua")
        os.write(handle, WRK_SCRIPT.encode())
        os.close(handle)
        _script_path = Path(name)
    return _script_path


def run_wrk(url: str, seconds: float, connections: int = 8, threads: int = 1) -> dict[str, float]:
    """Load ``url`` with unique-address signups; return req/s, p50 and p99 (ms), errors."""
    prefix = uuid.uuid4().hex[:10]
    command = ["taskset", "-c", LOAD_CPU, wrk_binary(), f"-t{threads}", f"-c{connections}",
               f"-d{seconds:g}s", "--timeout", "10s", "--latency", "-s", str(_wrk_script()),
               url, "--", prefix]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          check=True)
    line = next((li for li in done.stdout.splitlines() if li.startswith("WRK-JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, Any] = json.loads(line.removeprefix("WRK-JSON "))
    errors = sum(figures[k] for k in ("status", "connect", "read", "write", "timeout"))
    if errors:
        log(f"  wrk {url}: {errors} errors {figures}")
    return {"req_s": figures["requests"] / (figures["duration_us"] / 1e6),
            "p50_ms": figures["p50_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
            "errors": float(errors)}


def quick_flag(argv: list[str] | None) -> tuple[bool, list[str]]:
    """Parse ``--quick`` and ``--db sqlite|postgresql`` (repeatable)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--db", action="append", choices=KINDS, default=[],
                        help="run only on this database (repeatable); default: both")
    args = parser.parse_args(argv)
    return args.quick, args.db


def run_on_each_database(measure: Callable[[str, bool], list[Result]],
                         argv: list[str] | None) -> list[Result]:
    """Run ``measure(kind, quick)`` on each database asked for; print and return the rows."""
    quick, kinds = quick_flag(argv)
    results = [r for kind in kinds_to_run(kinds) for r in measure(kind, quick)]
    print(markdown(results))
    return results
