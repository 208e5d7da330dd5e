"""Quiet bot traps for the forms we render: a honeypot field and a minimum fill time.

A bot that fills the hidden field, or posts faster than a person can type, gets the
normal success answer and nothing is stored or mailed, so it learns nothing. A post
without these fields (a publisher's own form, a script) is judged by the other
defences (rate limits, the per-address email cap), never dropped for lacking them.
"""

from __future__ import annotations

import time

from flask import Flask, current_app
from itsdangerous import BadSignature, TimestampSigner
from werkzeug.datastructures import MultiDict

HONEYPOT_FIELD = "website"
STAMP_FIELD = "nl_ts"
BOT_FIELDS = (HONEYPOT_FIELD, STAMP_FIELD)


def _signer() -> TimestampSigner:
    return TimestampSigner(current_app.config["SECRET_KEY"], salt="newsletter-service.fill-time")


def fill_stamp() -> str:
    """Return a signed stamp of now, for a form being rendered."""
    return _signer().sign(b"form").decode()


def looks_automated(fields: MultiDict[str, str]) -> bool:
    """Tell whether a post tripped a trap: honeypot filled, or posted too fast."""
    if fields.get(HONEYPOT_FIELD, "").strip():
        return True
    stamp = fields.get(STAMP_FIELD)
    if stamp is None or stamp == "":
        return False
    try:
        _, signed_at = _signer().unsign(stamp, return_timestamp=True)
    except BadSignature:
        return True  # a stamp we did not issue: forged or mangled by a bot
    # Only too fast counts: an old stamp is a tab left open, not a bot.
    age = time.time() - signed_at.timestamp()
    return age < float(current_app.config["MIN_FILL_SECONDS"])


def init_app(app: Flask) -> None:
    """Let templates render the trap fields."""
    app.jinja_env.globals.update(fill_stamp=fill_stamp, HONEYPOT_FIELD=HONEYPOT_FIELD,
                                 STAMP_FIELD=STAMP_FIELD)
