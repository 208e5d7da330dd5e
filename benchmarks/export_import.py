"""Benchmark the export and the import of subscribers on SQLite, each beside a floor.

    make bench                      # 1,000,000 and 100,000 rows
    python benchmarks/export_import.py --rows 200000 --small 20000   # quicker

It fills a SQLite file with ``executemany`` in batches, then runs the real console
script (``newsletter-service subscribers export/import``, the CLI's code path) in a
child process, and measures its wall time and peak memory (``ru_maxrss`` from
``os.wait4``). The floor is the least a program can do for the same rows: plain
``sqlite3`` and ``csv.writer`` for the export; ``sqlite3`` ``executemany`` in batches of
1,000 for the import. The API export downloads the same rows from gunicorn (2 workers)
with a bearer token; its memory is the workers' peak. Results go to standard output and
``benchmarks/work/results.md``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
CLI = Path(sys.executable).parent / "newsletter-service"
BATCH = 1000
TIME = "2024-05-01 12:00:00.000000"  # how SQLAlchemy stores a UTC time in SQLite

EXPORT_FLOOR_SQL = """
SELECT s.email, sub.name, n.slug, sub.status, sub.created_at, sub.confirmed_at,
       sub.unsubscribed_at, sub.source, sub.id,
       (SELECT ip FROM consent_events e WHERE e.subscription_id = sub.id
          AND e.kind IN ('subscribed', 'imported') ORDER BY e.id DESC LIMIT 1),
       (SELECT ip FROM consent_events e WHERE e.subscription_id = sub.id
          AND e.kind = 'confirmed' ORDER BY e.id DESC LIMIT 1),
       sub.consent_version
FROM subscriptions sub JOIN subscribers s ON s.id = sub.subscriber_id
JOIN newsletters n ON n.id = sub.newsletter_id
WHERE sub.newsletter_id = ? ORDER BY sub.id
"""


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    label: str
    rows: int
    seconds: float
    peak_mib: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def migrated_database(path: Path) -> None:
    """Create an empty database at ``path`` with the app's migrations (in a child process,
    so that this one stays small: a child's peak memory counts its parent's at fork)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    subprocess.run([str(CLI), "db", "upgrade"], env=app_env(path), check=True,
                   stdout=subprocess.DEVNULL)


def add_newsletter(db: sqlite3.Connection, slug: str) -> int:
    cursor = db.execute(
        "INSERT INTO newsletters (slug, name, description, name_field, consent_version,"
        " success_title, success_message, send_welcome, one_click_confirm, allowed_origins,"
        " is_active, is_public, created_at) VALUES (?, ?, '', 'hidden', 1, 'Done', 'Thanks',"
        " 1, 0, '', 1, 1, ?)", (slug, slug.title(), TIME))
    return int(cursor.lastrowid or 0)


def fill(path: Path, sizes: dict[str, int]) -> float:
    """Add a newsletter per entry of ``sizes`` with that many confirmed readers."""
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    first = 0
    for slug, count in sizes.items():
        newsletter_id = add_newsletter(db, slug)
        for start in range(first, first + count, 50_000):
            ids = range(start + 1, min(start + 50_001, first + count + 1))
            db.executemany("INSERT INTO subscribers (id, email, email_key, created_at,"
                           " manage_token) VALUES (?, ?, ?, ?, ?)",
                           ((i, f"reader{i}@example.com", f"reader{i}@example.com", TIME,
                             f"manage-{i}") for i in ids))
            db.executemany(
                "INSERT INTO subscriptions (id, subscriber_id, newsletter_id, status, name,"
                " source, consent_given, consent_version, token_version, created_at,"
                " confirmed_at) VALUES (?, ?, ?, 'confirmed', ?, ?, 1, 1, 1, ?, ?)",
                ((i, i, newsletter_id, f"Reader {i}", f"https://news.example.com/a/{i % 500}",
                  TIME, TIME) for i in ids))
            db.executemany(
                "INSERT INTO consent_events (subscription_id, kind, at, ip, consent_version)"
                " VALUES (?, ?, ?, ?, 1)",
                ((i, kind, TIME, "192.0.2.1") for i in ids for kind in ("subscribed",
                                                                         "confirmed")))
            db.commit()
        first += count
    db.close()
    return time.perf_counter() - started


def measure(label: str, rows: int, command: list[str], env: dict[str, str]) -> Run:
    """Run ``command`` in a child process; return its wall time and peak memory."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{label} failed:\n{errors.decode(errors='replace')}")
    return Run(label, rows, seconds, usage.ru_maxrss / 1024)


def app_env(database: Path) -> dict[str, str]:
    return {**os.environ, "NEWSLETTER_DATABASE_URL": f"sqlite:///{database}",
            "NEWSLETTER_SECRET_KEY": "bench-" + "k" * 32,
            "NEWSLETTER_BASE_URL": "https://news.example.com", "NEWSLETTER_MAILER": "memory://"}


def floor_export(database: str, newsletter_id: str, output: str) -> None:
    """Write the same rows with nothing but sqlite3 and csv.writer."""
    db = sqlite3.connect(database)
    with open(output, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        cursor = db.execute(EXPORT_FLOOR_SQL, (int(newsletter_id),))
        while rows := cursor.fetchmany(BATCH):
            writer.writerows(rows)


def floor_import(database: str, source: str) -> None:
    """Insert the file's readers with nothing but sqlite3 executemany, 1,000 a transaction."""
    db = sqlite3.connect(database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    newsletter_id = db.execute("SELECT id FROM newsletters").fetchone()[0]
    with open(source, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        while batch := [row for _, row in zip(range(BATCH), reader, strict=False)]:
            db.executemany("INSERT OR IGNORE INTO subscribers (email, email_key, created_at,"
                           " manage_token) VALUES (?, ?, ?, lower(hex(randomblob(18))))",
                           ((r[0], r[0].lower(), TIME) for r in batch))
            db.executemany(
                "INSERT OR IGNORE INTO subscriptions (subscriber_id, newsletter_id, status,"
                " name, source, consent_given, token_version, created_at, confirmed_at)"
                " SELECT id, ?, 'confirmed', ?, ?, 0, 1, ?, ? FROM subscribers"
                " WHERE email_key = ?",
                ((newsletter_id, r[1], r[2], TIME, TIME, r[0].lower()) for r in batch))
            db.commit()


def import_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name", "source", "created_at"])
        writer.writerows((f"new{i}@example.org", f"New {i}", "https://news.example.com/x",
                          "2024-05-01T12:00:00Z") for i in range(rows))


def bench_export(database: Path, slug: str, newsletter_id: int, rows: int) -> list[Run]:
    out = WORK / f"export-{slug}.csv"
    service = measure(f"export {rows:,} (service)", rows,
                      [str(CLI), "subscribers", "export", slug, "--status", "all", "-o",
                       str(out)], app_env(database))
    floor = measure(f"export {rows:,} (floor)", rows,
                    [sys.executable, __file__, "floor-export", str(database),
                     str(newsletter_id), str(WORK / f"floor-{slug}.csv")], os.environ.copy())
    return [service, floor]


def bench_api_export(database: Path, slug: str, rows: int) -> Run:
    """Download ``slug``'s export from gunicorn (2 workers) with an API token.

    Timed from the request to the last byte written to a file; the memory is the highest
    peak (VmHWM) of the gunicorn workers.
    """
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import Server  # imported here: the CLI runs above stay lean

    env = app_env(database)
    created = subprocess.run([str(CLI), "tokens", "create", f"bench-{time.time_ns()}"],
                             env=env, capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]
    out = WORK / f"api-export-{slug}.csv"
    with Server("wsgi:app", env) as server:
        request = urllib.request.Request(
            f"{server.url}/api/v1/newsletters/{slug}/subscribers?status=all",
            headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response, out.open("wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
        seconds = time.perf_counter() - started
        peak = max(_peak_kib(pid) for pid in _children(server.process.pid))
    return Run(f"export {rows:,} via the API (service)", rows, seconds, peak / 1024)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] or [pid]


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bench_import(template: Path, rows: int, confirmed: bool = True) -> list[Run]:
    """Import ``rows`` new readers, as confirmed or as pending (a confirmation email each)."""
    source = WORK / f"import-{rows}.csv"
    import_file(source, rows)
    runs = []
    what = "import" if confirmed else "import pending"
    for kind in ("service", "floor"):
        database = WORK / f"import-{kind}-{rows}.sqlite3"
        shutil.copy(template, database)
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        if kind == "service":
            command = [str(CLI), "subscribers", "import", "target", str(source),
                       *(["--confirmed"] if confirmed else [])]
            env = app_env(database)
        else:
            command = [sys.executable, __file__, "floor-import", str(database), str(source)]
            env = os.environ.copy()
        runs.append(measure(f"{what} {rows:,} ({kind})", rows, command, env))
    return runs


def report(runs: list[Run], setup: str) -> str:
    lines = [f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, "
             f"SQLite {sqlite3.sqlite_version}. {setup}", "",
             "| run | rows | seconds | rows/s | peak memory (MiB) | service/floor time |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    floors = {r.label.replace("(floor)", ""): r for r in runs if "(floor)" in r.label}
    for run in runs:
        floor = floors.get(run.label.replace(" via the API", "").replace("(service)", ""))
        ratio = f"{run.seconds / floor.seconds:.1f}×" if floor and floor is not run else ""
        lines.append(f"| {run.label} | {run.rows:,} | {run.seconds:.1f} | "
                     f"{run.rows_per_second:,.0f} | {run.peak_mib:.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the export and import benchmarks (``--quick``: 100,000 and 10,000 rows)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--small", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(argv)  # run_all.py passes its own flags too
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.small = args.small or (10_000 if args.quick else 100_000)
    WORK.mkdir(parents=True, exist_ok=True)
    template = WORK / "empty.sqlite3"
    migrated_database(template)
    db = sqlite3.connect(template)
    add_newsletter(db, "target")
    db.commit()
    db.close()  # the last connection to close checkpoints the WAL into the file we copy
    database = WORK / "bench.sqlite3"
    migrated_database(database)
    seconds = fill(database, {"big": args.rows, "small": args.small})
    setup = (f"Setup: {args.rows + args.small:,} readers with 2 consent events each "
             f"written in {seconds:.0f} s.")
    print(setup, flush=True)
    runs: list[Run] = []
    for slug, newsletter_id, rows in (("big", 1, args.rows), ("small", 2, args.small)):
        runs += bench_export(database, slug, newsletter_id, rows)
        print(runs[-2], runs[-1], sep="\n", flush=True)
    for rows in (args.rows, args.small):
        runs += bench_import(template, rows)
        print(runs[-2], runs[-1], sep="\n", flush=True)
    # Pending: each new reader is also sent a confirmation email (the floor inserts only).
    runs += bench_import(template, args.small, confirmed=False)
    print(runs[-2], runs[-1], sep="\n", flush=True)
    # Last: it imports the service into this process, which the children above would count
    # (a child's peak memory includes what its parent held when it forked).
    for slug, rows in (("big", args.rows), ("small", args.small)):
        runs.append(bench_api_export(database, slug, rows))
        print(runs[-1], flush=True)
    table = report(runs, setup)
    (WORK / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "floor-export":
        floor_export(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "floor-import":
        floor_import(*sys.argv[2:4])
    else:
        main()
