"""Does a signup's answer time tell who is subscribed? (issue 17)

    .venv/bin/python benchmarks/bench_answer_time.py [--quick] [--db sqlite|postgresql]

gunicorn serves the service (2 sync workers, as deployed); one client posts JSON signups
one at a time, in random order, for three kinds of address: new, pending (signed up a
moment ago, within the resend cooldown) and confirmed. Each request waits for the one
before to be carried out (a pause of ``PAUSE`` seconds), so what is measured is the time
the answer takes, which is what a prober sees. Prints one markdown row per database:
the median and p90 of each kind, and a permutation test of the medians' spread: the share
of random relabellings of the same samples whose spread is at least as large (p ≥ 0.05:
the kinds cannot be told apart from the run's noise).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from benchmarks.common import (  # noqa: E402
    SECTION,
    SLUG,
    Server,
    create_newsletter,
    database,
    kinds_to_run,
    log,
    quick_flag,
    service_env,
    wait_for_signups,
)
from newsletter_service.db import make_engine  # noqa: E402

KINDS = ("new", "pending", "confirmed")
PAUSE = 0.03
SHUFFLES = 2000


def post_signup(port: int, address: str) -> float:
    """POST one JSON signup; return the milliseconds until the whole answer arrived."""
    body = json.dumps({"email": address})
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", f"/newsletters/{SLUG}/subscribe", body,
                       {"Content-Type": "application/json", "Accept": "application/json"})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"signup of {address} answered {response.status}")
    return elapsed


def wait_until_carried_out(engine) -> None:  # type: ignore[no-untyped-def]
    if wait_for_signups(engine):
        raise RuntimeError("signups were not carried out")


def spread(groups: list[list[float]]) -> float:
    medians = [statistics.median(g) for g in groups]
    return max(medians) - min(medians)


def permutation_p(groups: list[list[float]], rng: random.Random) -> float:
    """Share of random relabellings whose spread of medians is at least the observed one."""
    observed = spread(groups)
    pooled = [x for g in groups for x in g]
    sizes = [len(g) for g in groups]
    at_least = 0
    for _ in range(SHUFFLES):
        rng.shuffle(pooled)
        start, relabelled = 0, []
        for size in sizes:
            relabelled.append(pooled[start:start + size])
            start += size
        at_least += spread(relabelled) >= observed
    return at_least / SHUFFLES


def measure(kind: str, quick: bool) -> str:
    """Return one markdown row for database ``kind``."""
    count = 40 if quick else int(os.environ.get("BENCH_ANSWERS", "300"))
    rng = random.Random(17)
    run = f"{int(time.time())}"
    with database(kind) as url:
        engine = make_engine(url)
        create_newsletter(engine)
        # With its worker, as deployed: back-to-back signups (the setup's) are left to it.
        with Server("wsgi:app", service_env(url), worker=True) as server:
            for i in range(20):  # warm-up: templates compiled, pools filled
                post_signup(server.port, f"warm{i}.{run}@example.com")
            existing = {k: [f"{k}{i}.{run}@example.com" for i in range(count)]
                        for k in ("pending", "confirmed")}
            for address in existing["pending"] + existing["confirmed"]:
                post_signup(server.port, address)
            wait_until_carried_out(engine)
            with engine.begin() as db:
                db.execute(text("UPDATE subscriptions SET status = 'confirmed' WHERE "
                                "subscriber_id IN (SELECT id FROM subscribers "
                                "WHERE email LIKE 'confirmed%')"))
            samples: dict[str, list[float]] = {k: [] for k in KINDS}
            plan = [(k, i) for i in range(count) for k in KINDS]
            rng.shuffle(plan)
            for what, i in plan:
                address = f"new{i}.{run}@example.com" if what == "new" else existing[what][i]
                samples[what].append(post_signup(server.port, address))
                time.sleep(PAUSE)
            wait_until_carried_out(engine)
        engine.dispose()
    p = permutation_p([samples[k] for k in KINDS], rng)
    cells = [f"{statistics.median(samples[k]):.2f} / "
             f"{statistics.quantiles(samples[k], n=10)[-1]:.2f} ms" for k in KINDS]
    verdict = "yes" if p >= 0.05 else "**no**"
    log(f"{SECTION[kind]}: " + ", ".join(f"{k} {c}" for k, c in zip(KINDS, cells, strict=True))
        + f", p={p:.2f}")
    return (f"| {SECTION[kind]} | {count} each | " + " | ".join(cells)
            + f" | {spread([samples[k] for k in KINDS]):.2f} ms | {p:.2f} | {verdict} |")


def main(argv: list[str] | None = None) -> str:
    """Run on each database; print and return the markdown table."""
    quick, requested = quick_flag(sys.argv[1:] if argv is None else argv)
    rows = [measure(kind, quick) for kind in kinds_to_run(requested)]
    report = "\n".join([
        "| database | requests | new: p50 / p90 | pending: p50 / p90 | confirmed: p50 / p90 "
        "| spread of medians | permutation p | same within noise? |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
        *rows]) + "\n"
    print(report)
    return report


if __name__ == "__main__":
    main()
