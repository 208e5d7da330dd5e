"""Confirm with the emailed code (POST /confirm/code), and the not-me link (/not-me/<token>)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue as ResponseValue
from flask_babel import gettext as _

from ... import not_me, subscriptions
from ...addresses import InvalidAddress, normalize_address
from ...confirmation_codes import WrongCode
from ...consent import ConsentOrigin
from ...db import get_session
from ...i18n import LANGUAGES, current_language, use_language, use_language_of
from ...scanners import may_be_scanner
from ...tokens import InvalidToken
from ..errors import error_response, wants_json
from ..limits import rate_limited
from ..security import answers_into_frame, capability_link, cors_json, cross_site_form, is_embedded
from .signup_input import read_signup_input

bp = Blueprint("codes", __name__)


def code_texts() -> dict[str, str]:
    """Return the code step's texts, for embed.js (form.json and the signup's JSON answer).

    ``language`` is theirs: embed.js posts it with the code, so that a wrong code is
    answered in the language of the box (the newsletter's), not the browser's.
    """
    return {"label": _("Confirmation code"),
            "hint": _("Type the 6-digit code from the email to confirm here."),
            "button": _("Confirm"), "language": current_language()}


def wrong_code() -> str:
    """Return the one message of every code that confirms nothing (nobody learns why)."""
    return _("This code is not valid. Check the latest email we sent, or sign up again for "
             "a new code.")


@bp.post("/confirm/code")
@cross_site_form
@cors_json
@answers_into_frame
@rate_limited("RATELIMIT_SIGNUP")
def confirm_code() -> ResponseValue:
    """Confirm the subscriptions of the email that carried this code (form or JSON)."""
    data = read_signup_input()
    email, code = data.get("email", ""), data.get("code", "")
    try:
        outcome = subscriptions.confirm_with_code(get_session(), normalize_address(email),
                                                  code, _origin())
    except (InvalidAddress, WrongCode):
        # Which newsletters are pending for the address is nobody's business: the answer
        # speaks the language the code field was shown in (``lang``), else the browser's.
        if data.get("lang") in LANGUAGES:
            use_language(data["lang"])
        if wants_json():
            return jsonify(ok=False, errors={"code": [wrong_code()]}), 422
        return render_template("code.html", email=email, error=wrong_code(),
                               embed=is_embedded()), 422
    use_language_of(outcome.newsletters)  # the newsletter's, not the browser's
    names = ", ".join(n.name for n in outcome.newsletters)
    if wants_json():
        return jsonify(ok=True, status="confirmed",
                       message=_("You're subscribed to %(names)s.", names=names))
    return render_template("confirmed.html", outcome=outcome, embed=is_embedded())


@bp.route("/not-me/<token>", methods=["GET", "HEAD"])
@capability_link
@rate_limited("RATELIMIT_LINKS")
def not_me_page(token: str) -> ResponseValue:
    """Show the not-me button (none when a mail scanner may be opening the link)."""
    try:
        link = not_me.read_link(get_session(), token)
    except InvalidToken:
        return _invalid_link()
    too_soon = may_be_scanner(link.claims.issued_at, request.user_agent.string)
    return render_template("not_me.html", link=link, token=token, too_soon=too_soon,
                           days=current_app.config["NOT_ME_DAYS"])


@bp.post("/not-me/<token>")
@capability_link
@rate_limited("RATELIMIT_LINKS")
def not_me_post(token: str) -> ResponseValue:
    """Cancel what the email was for and block confirmation emails to the mailbox."""
    try:
        link = not_me.say_not_me(get_session(), token, _origin())
    except InvalidToken:
        return _invalid_link()
    return render_template("not_me_done.html", link=link,
                           days=current_app.config["NOT_ME_DAYS"])


def _invalid_link() -> Response:
    return error_response(404, _("This link is not valid. It may be incomplete or no longer "
                                 "in use."))


def _origin() -> ConsentOrigin:
    return ConsentOrigin(ip=request.remote_addr, user_agent=request.user_agent.string or None,
                         source=None)
