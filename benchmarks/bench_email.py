"""Microbenchmark: one confirmation email built in full vs. stamped into a once-built one.

    .venv/bin/python benchmarks/bench_email.py [--count 5000]

Both run in one process, side by side, on the same newsletter and addresses; the figure
that matters is the ratio and the stamped time per email (target: at most 0.2 ms).
"""

from __future__ import annotations

import argparse
import statistics
import time

from newsletter_service import create_app, emails
from newsletter_service.models import Newsletter

URL = "https://news.example.com/confirm/W1sxLDFdXQ.awpdjQ.3gPCrRsJLlfw"


def per_email_ms(build: object, count: int) -> float:
    """Return the median over 5 rounds of the time per email, in milliseconds."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for index in range(count):
            build(f"reader{index}@example.com")  # type: ignore[operator]
        rounds.append((time.perf_counter() - started) * 1000 / count)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    count = parser.parse_args().count
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": "sqlite://", "MAILER": "memory://",
                      "BASE_URL": "https://news.example.com", "MAIL_FROM": "news@example.com"})
    newsletter = Newsletter(id=1, slug="daily", name="The Daily — Щоденник",
                            description="Every morning", reply_to=None)
    with app.app_context():
        full = per_email_ms(lambda to: emails.as_bytes(
            emails.confirmation_email(newsletter, to, URL)), max(200, count // 10))
        stamped = per_email_ms(lambda to: emails.confirmation_bytes([newsletter], to, URL), count)
    print("| build | ms per email | emails/s |\n| --- | ---: | ---: |")
    print(f"| in full (email package) | {full:.3f} | {1000 / full:,.0f} |")
    print(f"| stamped | {stamped:.4f} | {1000 / stamped:,.0f} |")
    print(f"\nstamped is {full / stamped:.0f}x faster; target <= 0.2 ms: "
          f"{'met' if stamped <= 0.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
