"""The operator's endpoints: ``/readyz`` for load balancers, ``/metrics`` for Prometheus."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue as ResponseValue

from .. import metrics, preflight

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)


@bp.get("/readyz")
def readyz() -> ResponseValue:
    """Answer 200 when the database answers and its schema is at head, else 503 saying why."""
    problem = preflight.database_problem(current_app.extensions["db_engine"])
    if problem is not None:
        log.warning("not ready: %s", problem)
        return jsonify(ok=False, error=problem), 503
    return jsonify(ok=True)


@bp.get("/metrics")
def prometheus_metrics() -> ResponseValue:
    """Serve the metrics to a bearer of ``NEWSLETTER_METRICS_TOKEN``; 404 while it is unset."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    if not _bearer_matches(str(token)):
        response = jsonify(ok=False, error="This needs the metrics token as a bearer token.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, 401
    body, content_type = metrics.exposition(current_app.extensions["metrics"],
                                            request.headers.get("Accept", ""))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes as long whatever the first differing byte: the token stays secret.
    return hmac.compare_digest(given.strip().encode(), token.encode()) and \
        scheme.lower() == "bearer"
