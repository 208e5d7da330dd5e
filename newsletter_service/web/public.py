"""The public blueprint: the forms, the signup, and the links in emails."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, request
from sqlalchemy import text

from .. import subscriptions as service
from ..db import get_session
from ..forms import PublicForm, signup_form_class
from ..models import Newsletter
from ..tokens import ExpiredToken, InvalidToken
from .answers import error_response, wants_json
from .signup_input import read_signup_input

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    """Show every public newsletter's form, as on a publisher's article page."""
    newsletters = service.public_newsletters(get_session())
    forms = {n.slug: signup_form_class(n)(formdata=None) for n in newsletters}
    return render_template("index.html", newsletters=newsletters, forms=forms)


@bp.get("/newsletters/<slug>")
def newsletter_page(slug: str) -> str:
    """Show one newsletter's hosted signup page."""
    newsletter = _newsletter_or_404(slug)
    form = signup_form_class(newsletter)(formdata=None)
    return render_template("newsletter.html", newsletter=newsletter, form=form)


@bp.post("/newsletters/<slug>/subscribe")
def subscribe(slug: str) -> Response | tuple[str, int] | str:
    """Sign a reader up from a form or a JSON request."""
    session = get_session()
    newsletter = _newsletter_or_404(slug)
    form = signup_form_class(newsletter)(formdata=read_signup_input())
    if not form.validate():
        return _invalid(newsletter, form)
    signup = service.Signup(
        address=form.address,
        name=form.name.data if "name" in form else None,
        consent=bool(form.consent.data) if "consent" in form else False,
    )
    service.subscribe(session, [newsletter], signup, _origin())
    if wants_json():
        return jsonify(ok=True, status="pending",
                       message=f"{newsletter.success_title}. {newsletter.success_message}")
    return render_template("success.html", newsletter=newsletter)


def _invalid(newsletter: Newsletter, form: PublicForm) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify(ok=False, errors=form.errors)
        response.status_code = 422
        return response
    return render_template("newsletter.html", newsletter=newsletter, form=form), 422


@bp.route("/confirm/<token>", methods=["GET", "HEAD"])
def confirm_page(token: str) -> Response | str | tuple[str, int]:
    """Show the confirm button; never confirms, except a one-click newsletter's GET."""
    session = get_session()
    try:
        outcome, claims = service.read_confirm_link(session, token)
    except ExpiredToken:
        return render_template("link_expired.html", token=token), 410
    except InvalidToken:
        return _invalid_link()
    if request.method == "GET" and service.confirms_on_open(outcome, claims):
        outcome = service.confirm(session, token, _origin())
        return render_template("confirmed.html", outcome=outcome)
    return render_template("confirm.html", outcome=outcome, token=token)


@bp.post("/confirm/<token>")
def confirm(token: str) -> Response | str | tuple[str, int]:
    """Confirm the subscriptions a link names (idempotent)."""
    try:
        outcome = service.confirm(get_session(), token, _origin())
    except ExpiredToken:
        return render_template("link_expired.html", token=token), 410
    except InvalidToken:
        return _invalid_link()
    return render_template("confirmed.html", outcome=outcome)


@bp.post("/confirm/<token>/resend")
def resend_confirmation(token: str) -> Response | str | tuple[str, int]:
    """Send a new confirm link in place of an expired one."""
    session = get_session()
    try:
        service.read_confirm_link(session, token)
    except ExpiredToken as expired:
        service.resend_confirmation(session, expired)
        return render_template("link_resent.html")
    except InvalidToken:
        return _invalid_link()
    return render_template("confirm.html", outcome=service.read_confirm_link(session, token)[0],
                           token=token)


@bp.route("/unsubscribe/<token>", methods=["GET", "HEAD"])
def unsubscribe_page(token: str) -> Response | str | tuple[str, int]:
    """Show the unsubscribe button; never unsubscribes."""
    try:
        outcome = service.read_unsubscribe_link(get_session(), token)
    except InvalidToken:
        return _invalid_link()
    return render_template("unsubscribe.html", outcome=outcome, token=token)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response | str | tuple[str, int]:
    """Unsubscribe: the page's button and RFC 8058 one-click POSTs (no cookie, no CSRF)."""
    try:
        outcome = service.unsubscribe(get_session(), token, _origin())
    except InvalidToken:
        return _invalid_link()
    if wants_json():
        return jsonify(ok=True, status="unsubscribed")
    return render_template("unsubscribed.html", outcome=outcome)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 when the app and its database answer."""
    get_session().execute(text("SELECT 1"))
    return jsonify(ok=True)


def _newsletter_or_404(slug: str) -> Newsletter:
    try:
        return service.find_newsletter(get_session(), slug)
    except service.UnknownNewsletter:
        abort(404, description="There is no newsletter at this address.")


def _invalid_link() -> Response:
    return error_response(404, "This link is not valid. It may be incomplete or no longer in use: "
                          "copy the whole link from the email, or sign up again.")


def _origin() -> service.Origin:
    source = request.form.get("source") if request.form else None
    if request.is_json and isinstance(request.get_json(silent=True), dict):
        source = request.get_json(silent=True).get("source")
    if not isinstance(source, str) or not source.startswith(("http://", "https://")):
        source = request.referrer
    return service.Origin(ip=request.remote_addr, user_agent=request.user_agent.string or None,
                          source=source)
