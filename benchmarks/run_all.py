"""Run every benchmark and write the tables to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--quick] [--db sqlite|postgresql]

Runs bench_signup, bench_mail and bench_growth (one table per database, SQLite and
PostgreSQL, each beside its floor), then export_import.py and bench_email.py in their own
processes, and bench_answer_time.py; writes it all, with the date, the machine and the
git commit, to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    GUNICORN_SETTINGS,
    ROOT,
    SECTION,
    Result,
    log,
    markdown,
)

BENCHMARKS = ("bench_signup", "bench_mail", "bench_growth")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """Return the core count and CPU model."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}, " \
           f"{platform.system()} {platform.release()}, Python {platform.python_version()}"


def git_commit() -> str:
    """Return HEAD's commit and whether the working tree has changes (read-only git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def run_export_import(argv: list[str]) -> tuple[list[Result], str]:
    """Run benchmarks/export_import.py in its own process; return its printed table.

    Its own process, because it measures its children's peak memory, and a child's
    peak counts what its parent held when it forked: this process holds a lot by then.
    """
    script = Path(__file__).resolve().parent / "export_import.py"
    if not script.exists():
        return [], ""
    done = subprocess.run([sys.executable, str(script), *argv], check=True,
                          capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    return [], done.stdout[done.stdout.index("|"):] if "|" in done.stdout else done.stdout


def run_email_bench() -> str:
    """Run benchmarks/bench_email.py (built in full vs. stamped) in its own process."""
    script = Path(__file__).resolve().parent / "bench_email.py"
    done = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    sys.stdout.write(done.stdout)
    return done.stdout[done.stdout.index("|"):] if "|" in done.stdout else done.stdout


def main(argv: list[str] | None = None) -> list[Result]:
    """Run everything, print the full table and write RESULTS.md."""
    argv = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    results: list[Result] = []
    for name in BENCHMARKS:
        log(f"== {name} {' '.join(argv)}")
        module = importlib.import_module(f"benchmarks.{name}")
        results += module.main(argv)
    extra_rows, extra_text = run_export_import(argv)
    email_text = run_email_bench()
    log(f"== bench_answer_time {' '.join(argv)}")
    answer_text = importlib.import_module("benchmarks.bench_answer_time").main(argv)
    results += extra_rows
    order = list(SECTION.values())
    results.sort(key=lambda r: order.index(r.section) if r.section in order else len(order))
    table = markdown(results)
    minutes = (time.monotonic() - started) / 60
    report = "\n".join([
        "# Benchmarks: signup, confirmation mail, growth, export/import, emails, answer time",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}",
        f"- command: `.venv/bin/python benchmarks/run_all.py {' '.join(argv)}`".rstrip() +
        f" ({minutes:.0f} min)",
        f"- gunicorn: `{' '.join(GUNICORN_SETTINGS)}`, pinned with `taskset -c 0`; "
        "wrk `-t1 -c8 --latency` pinned with `taskset -c 1`, a new address per request",
        "- each figure is the median of 3 rounds, service and floor alternating in one run; "
        "ratio > 1 means the service beat its floor (noise); PostgreSQL shares the 2 cores",
        "- the service ran with NEWSLETTER_RATELIMIT_ENABLED=false (all load comes from one "
        "IP) and NEWSLETTER_MAILER=memory:// for the HTTP benchmarks",
        "",
        table,
    ])
    if extra_text:
        report += "\n### export/import (benchmarks/export_import.py)\n\n" + extra_text
    if email_text:
        report += "\n### one confirmation email (benchmarks/bench_email.py)\n\n" + email_text
    report += ("\n### answer time by what the address was (benchmarks/bench_answer_time.py)\n\n"
               + answer_text)
    print("\n" + table)
    RESULTS.write_text(report)
    log(f"wrote {RESULTS}")
    return results


if __name__ == "__main__":
    main()
