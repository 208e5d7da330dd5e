"""How the web layer answers: HTML for browsers, JSON for scripts, errors for both."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# Read in the language of the request: its newsletter's, else the browser's (i18n.py).
ERROR_MESSAGES = {
    400: lazy_gettext("The request could not be understood."),
    404: lazy_gettext("There is nothing here."),
    405: lazy_gettext("This address does not take that kind of request."),
    413: lazy_gettext("The request is too large."),
    415: lazy_gettext("Send the form as form data or as JSON."),
    429: lazy_gettext("Too many requests. Please wait a moment and try again."),
    500: lazy_gettext("Something went wrong on our side. Please try again later."),
    503: lazy_gettext("The service is busy or being repaired. Please try again in a moment."),
}


def wants_json() -> bool:
    """Tell whether the client sent JSON or prefers a JSON answer."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def error_response(status: int, message: str | None = None, **extra: Any) -> Response:
    """Answer an error as JSON or as a friendly page, with ``status``."""
    message = str(message or ERROR_MESSAGES.get(status) or _("The request failed."))
    if wants_json():
        response = jsonify(ok=False, error=message, **extra)
    else:
        response = Response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def _handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = None
    if isinstance(error, CSRFError):
        message = _("The form has expired. Reload the page and try again.")
    elif status not in (429, 500) and error.description and \
            error.description != type(error).description:
        message = error.description
    return error_response(status, message)


def _handle_database_down(error: OperationalError | InterfaceError) -> Response:
    # The reader gets "try again" rather than a traceback; the pool reconnects by
    # itself (pool_pre_ping) once the database answers again.
    log.error("database unavailable: %s", error.orig or error)
    response = error_response(503)
    response.headers["Retry-After"] = "5"
    return response


def init_app(app: Flask) -> None:
    """Answer every HTTP error, and every unexpected one, without a traceback."""
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(InternalServerError, _handle_http_error)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(InterfaceError, _handle_database_down)
