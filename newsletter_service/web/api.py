"""The token API (``/api/v1``): newsletters, exports, adding, unsubscribing and erasing readers.

Every request carries ``Authorization: Bearer <token>``; every answer is JSON, errors
included. Tokens travel in that header only, never in a URL, so no access log holds one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import api_tokens, imports, newsletters, privacy, readers, suppressions
from ..addresses import InvalidAddress, normalize_address
from ..db import get_session
from ..models import SuppressionReason
from .console.downloads import export_download
from .errors import ERROR_MESSAGES
from .limits import rate_limited
from .lookup import any_newsletter_or_404

# Every request counts, before authentication: a wrong token too.
bp = rate_limited("RATELIMIT_API")(Blueprint("api", __name__, url_prefix="/api/v1"))


@bp.before_request
def authenticate() -> Response | None:
    """Refuse requests without a live token: 401 with ``WWW-Authenticate: Bearer``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized(None)
    try:
        g.api_token = api_tokens.authenticate(get_session(), token.strip())
    except api_tokens.InvalidApiToken:
        return _unauthorized("invalid_token")
    return None


@bp.get("/newsletters")
def list_newsletters() -> Response:
    """List every newsletter."""
    return jsonify([{"slug": n.slug, "name": n.name, "description": n.description,
                     "language": n.language, "active": n.is_active}
                    for n in newsletters.all_newsletters(get_session())])


@bp.get("/newsletters/<slug>/subscribers")
def export(slug: str) -> Response:
    """Stream the newsletter's subscribers as CSV or JSON."""
    return export_download(any_newsletter_or_404(slug), _actor())


@bp.post("/newsletters/<slug>/subscribers")
def add_subscriber(slug: str) -> tuple[Response, int]:
    """Add a reader: pending with a confirmation email, or confirmed without one."""
    newsletter = any_newsletter_or_404(slug)
    try:
        added = readers.add_reader(get_session(), newsletter, _reader(_json_object()), _actor())
    except imports.InvalidField as error:
        return jsonify(ok=False, errors={error.field: [str(error)]}), 422
    except readers.AddressSuppressed:
        return jsonify(ok=False, error="This address was erased; it is not added back."), 409
    return jsonify(ok=True, created=added.created, status=added.subscription.status.value), \
        201 if added.created else 200


@bp.post("/newsletters/<slug>/subscribers/unsubscribe")
def unsubscribe(slug: str) -> Response:
    """Unsubscribe a reader from the newsletter."""
    newsletter = any_newsletter_or_404(slug)
    session = get_session()
    subscriber = readers.find_by_address(session, _email(_json_object()))
    subscription = subscriber and readers.find_subscription(session, subscriber,
                                                                newsletter.id)
    if not subscription:
        abort(404, description="That address is not subscribed to this newsletter.")
    changed = readers.unsubscribe(session, subscription, _actor())
    return jsonify(ok=True, status="unsubscribed", changed=changed)


@bp.delete("/subscribers/<path:email>")
def erase(email: str) -> Response:
    """Erase everything about a reader (GDPR art. 17)."""
    session = get_session()
    subscriber = readers.find_by_address(session, email)
    if subscriber is None:
        abort(404, description="There is no reader with that address.")
    privacy.erase(session, subscriber)
    return jsonify(ok=True, erased=True)


@bp.post("/suppressions")
def suppress() -> tuple[Response, int]:
    """Suppress an address (bounce, complaint or manual): no more email from us."""
    body = _json_object()
    email, reason = body.get("email"), body.get("reason")
    errors: dict[str, list[str]] = {}
    if reason not in [r.value for r in SuppressionReason]:
        errors["reason"] = ["'reason' is bounce, complaint or manual."]
    try:
        address = normalize_address(email if isinstance(email, str) else "")
    except InvalidAddress as error:
        errors["email"] = [str(error)]
    if errors:
        return jsonify(ok=False, errors=errors), 422
    created = suppressions.add(get_session(), address.email, str(reason))
    return jsonify(ok=True, created=created), 201 if created else 200


@bp.errorhandler(HTTPException)
def _error(error: HTTPException) -> Response:
    status = error.code or 500
    message = error.description if error.description != type(error).description else None
    response = jsonify(ok=False, error=message or ERROR_MESSAGES.get(status, "Request failed."))
    response.status_code = status
    return response


def _unauthorized(error: str | None) -> Response:
    response = jsonify(ok=False, error="A valid API token is required: "
                                       "Authorization: Bearer <token>.")
    response.status_code = 401
    challenge = 'Bearer realm="newsletter-service"'
    response.headers["WWW-Authenticate"] = f'{challenge}, error="{error}"' if error else challenge
    return response


def _json_object() -> dict[str, Any]:
    # Malformed JSON: 400 with a message (web/bodies.py); another type: None, then 400.
    body = request.get_json(silent=not request.is_json)
    if not isinstance(body, dict):
        abort(400, description="Send a JSON object with Content-Type: application/json.")
    return body


def _reader(body: dict[str, Any]) -> readers.AddReader:
    confirmed, name = body.get("confirmed", False), body.get("name")
    if not isinstance(confirmed, bool) or not isinstance(name or "", str):
        abort(400, description="'confirmed' is true or false, and 'name' a string.")
    return readers.AddReader(email=_email(body), name=name or None, confirmed=confirmed)


def _email(body: dict[str, Any]) -> str:
    email = body.get("email")
    if not isinstance(email, str) or not email.strip():
        abort(400, description="'email' is required and must be a string.")
    return email


def _actor() -> str:
    return f"token {g.api_token.name}"
