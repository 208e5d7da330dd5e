"""The preference centre's page: every public newsletter, the reader's choice ticked, one Save."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue as ResponseValue
from flask_babel import gettext as _

from ... import i18n
from ...db import get_session
from ...preferences import Preferences, UnknownChoice, read_preferences, save_preferences
from ...tokens import InvalidToken
from ..errors import error_response, wants_json
from ..security import capability_link

bp = Blueprint("preferences", __name__)


@bp.route("/preferences/<token>", methods=["GET", "HEAD"])
@capability_link
def page(token: str) -> ResponseValue:
    """Show the reader's choices; never changes them."""
    try:
        chosen = read_preferences(get_session(), token)
    except InvalidToken:
        return _invalid_link()
    return _answer(chosen, token)


@bp.post("/preferences/<token>")
@capability_link
def save(token: str) -> ResponseValue:
    """Make the ticked newsletters the reader's: the form or ``{"newsletters": [...]}``."""
    wanted = _wanted()
    if wanted is None:
        return _refused(_("Send the newsletters you want as a list of their names."))
    try:
        chosen = save_preferences(get_session(), token, wanted, ip=request.remote_addr,
                                          user_agent=request.user_agent.string or None)
    except InvalidToken:
        return _invalid_link()
    except UnknownChoice as unknown:
        return _refused(_("There is no newsletter called “%(slug)s”.", slug=unknown.slug))
    return _answer(chosen, token, saved=True)


def _answer(chosen: Preferences, token: str, saved: bool = False) -> ResponseValue:
    i18n.use_language(chosen.language or i18n.browser_language())
    if wants_json():
        return jsonify(chosen.as_json())
    return render_template("preferences.html", preferences=chosen, token=token, saved=saved)


def _wanted() -> list[str] | None:
    if not request.is_json:
        return request.form.getlist("newsletters")
    body = request.get_json(silent=True)
    wanted = body.get("newsletters") if isinstance(body, dict) else None
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
        return None
    return wanted


def _refused(message: str) -> Response:
    i18n.use_language(i18n.browser_language())
    return error_response(422, message, errors={"newsletters": [message]})


def _invalid_link() -> Response:
    i18n.use_language(i18n.browser_language())
    return error_response(404, _("This link is not valid. It may be incomplete or no longer in "
                                 "use: copy the whole link from the email."))
