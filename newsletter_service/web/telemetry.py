"""Each request gets an id, one log line and a latency sample.

The line names the URL rule (``/confirm/<token>``), never the path: paths carry tokens, and
query strings may carry addresses. The id comes from the ``X-Request-ID`` a proxy set, when
it looks like one, else it is made here; the answer echoes it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from .. import metrics

log = logging.getLogger(__name__)
HEADER = "X-Request-ID"
# Proxies send UUIDs or hex strings; anything else (long, spaced, an address) is replaced.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
UNMATCHED = "<unmatched>"  # a 404 or 405 before routing: one label, whatever was asked


def init_app(app: Flask) -> None:
    """Create the app's metrics and time, log and number every request."""
    app.extensions["metrics"] = metrics.create_metrics(app.extensions["db_engine"])
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(HEADER, "")
    g.request_id = given if SANE_ID.fullmatch(given) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    started = g.pop("request_started", None)
    if started is None:  # another hook answered before ours ran: nothing to time
        return response
    seconds = time.perf_counter() - started
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    response.headers[HEADER] = g.request_id
    metrics.observe_request(current_app.extensions["metrics"], request.method, route,
                            response.status_code, seconds)
    log.info("%s %s %s %.1fms", request.method, route, response.status_code, seconds * 1000,
             extra={"method": request.method, "route": route, "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1)})
    return response
