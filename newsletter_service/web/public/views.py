"""The public blueprint: the forms, the signup, and the links in emails."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue as ResponseValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import text
from werkzeug.datastructures import MultiDict

from ... import confirmations, i18n, signup_queue, subscriptions
from ...consent import ConsentOrigin
from ...db import get_session
from ...models import ConfirmMethod, Newsletter
from ...newsletters import public_newsletters
from ...scanners import may_be_scanner
from ...sources import clean_source
from ...subscriptions import Signup
from ...tokens import ExpiredToken, InvalidToken
from ..errors import error_response, wants_json
from ..limits import rate_limited
from ..lookup import newsletter_or_404
from ..security import (
    answers_into_frame,
    capability_link,
    cors_json,
    cross_site_form,
    is_embedded,
)
from . import bots, challenge
from .after_answer import carry_out_signup_after
from .codes import code_texts
from .forms import PublicForm, combined_form_class, signup_form_class
from .signup_input import read_signup_input

bp = Blueprint("public", __name__)
MAX_NEWSLETTERS_PER_SIGNUP = 20
# Every endpoint that can send a confirmation email counts in this one per-IP bucket.
CONFIRMATION_EMAILS = "confirmation-emails"
NONE_CHOSEN = lazy_gettext("Choose at least one newsletter.")


@bp.get("/")
def index() -> str:
    """Show every public newsletter's form, as on a publisher's article page."""
    newsletters = public_newsletters(get_session())
    forms = {n.slug: signup_form_class(n)(formdata=None) for n in newsletters}
    return render_template("index.html", newsletters=newsletters, forms=forms)


@bp.get("/newsletters/<slug>")
def newsletter_page(slug: str) -> str:
    """Show one newsletter's hosted signup page."""
    newsletter = newsletter_or_404(slug)
    i18n.use_language(newsletter.language)
    form = signup_form_class(newsletter)(formdata=None)
    return render_template("newsletter.html", newsletter=newsletter, form=form)


@bp.post("/newsletters/<slug>/subscribe")
@cross_site_form
@cors_json
@answers_into_frame
@rate_limited("RATELIMIT_SIGNUP", shared=CONFIRMATION_EMAILS)
def subscribe(slug: str) -> ResponseValue:
    """Sign a reader up from a form or a JSON request."""
    newsletter = newsletter_or_404(slug)
    return _signup([newsletter], read_signup_input())


@bp.post("/subscribe")
@cross_site_form
@cors_json
@answers_into_frame
@rate_limited("RATELIMIT_SIGNUP", shared=CONFIRMATION_EMAILS)
def subscribe_many() -> ResponseValue:
    """Sign a reader up to the newsletters ticked on a combined form: one confirmation email."""
    data = read_signup_input()
    slugs = list(dict.fromkeys(data.getlist("newsletters")))
    if not slugs:
        return _none_chosen(data)
    if len(slugs) > MAX_NEWSLETTERS_PER_SIGNUP:
        abort(400, description=_("Too many newsletters in one signup."))
    return _signup([newsletter_or_404(slug) for slug in slugs], data)


def _signup(newsletters: list[Newsletter], data: MultiDict[str, str]) -> ResponseValue:
    i18n.use_language_of(newsletters)  # a combined form speaks its first newsletter's
    form = combined_form_class(newsletters)(formdata=data)
    if not form.validate():
        return _invalid(newsletters, form)
    if bots.looks_automated(data):
        return _subscribed(newsletters, form.address.email)  # the normal answer: bots learn nothing
    if not challenge.passes(newsletters, data):
        form.challenge.errors.append(challenge.FAILED)
        return _invalid(newsletters, form)
    signup = Signup(
        address=form.address,
        name=form.name.data if "name" in form else None,
        consent=bool(form.consent.data) if "consent" in form else False,
    )
    # Recorded now, carried out once answered: the answer takes as long for a new address
    # as for a subscribed one (signup_queue.py).
    recorded = signup_queue.record(get_session(), newsletters, signup, _origin())
    return carry_out_signup_after(_subscribed(newsletters, form.address.email), recorded)


def _subscribed(newsletters: list[Newsletter], email: str) -> ResponseValue:
    """Answer a signup: the success message, and the code field where the reader is."""
    first = newsletters[0]
    if wants_json():
        return jsonify(ok=True, status="pending",
                       message=f"{i18n.success_title(first)}. {i18n.success_message(first)}",
                       code=code_texts())
    if is_embedded():
        return render_template("success.html", newsletter=first, embed=True, email=email)
    target = _return_url(newsletters)
    if target:
        return redirect(target, code=303)
    return render_template("success.html", newsletter=first, newsletters=newsletters,
                           email=email)


def _return_url(newsletters: list[Newsletter]) -> str | None:
    """Return the publisher's page to go back to, with ``?subscribed=<slug>``, if one is set."""
    urls = {n.return_url for n in newsletters}
    url = urls.pop() if len(urls) == 1 else None  # different pages: no single place to return
    if not url or not url.startswith(("https://", "http://")):
        return None
    parts = urlsplit(url)
    slugs = ",".join(n.slug for n in newsletters)
    query = urlencode([*parse_qsl(parts.query), ("subscribed", slugs)], safe=",")
    return urlunsplit(parts._replace(query=query))


def _invalid(newsletters: list[Newsletter], form: PublicForm) -> ResponseValue:
    if wants_json():
        response = jsonify(ok=False, errors=form.errors)
        response.status_code = 422
        return response
    if request.endpoint == "public.subscribe_many":
        return _combined_page(form, [n.slug for n in newsletters]), 422
    return render_template("newsletter.html", newsletter=newsletters[0], form=form,
                           embed=is_embedded()), 422


def _none_chosen(data: MultiDict[str, str]) -> ResponseValue:
    form = combined_form_class([])(formdata=data)
    form.validate()
    errors = {**form.errors, "newsletters": [NONE_CHOSEN]}
    if wants_json():
        response = jsonify(ok=False, errors=errors)
        response.status_code = 422
        return response
    return _combined_page(form, [], choice_error=NONE_CHOSEN), 422


def _combined_page(form: PublicForm, chosen: list[str], choice_error: str | None = None) -> str:
    offered = public_newsletters(get_session())
    offered += [newsletter_or_404(s) for s in chosen if s not in {n.slug for n in offered}]
    return render_template("subscribe.html", offered=offered, chosen=chosen, form=form,
                           choice_error=choice_error)


@bp.get("/challenge")
@cors_json
def challenge_for_browser() -> Response:
    """Hand out a proof-of-work challenge for a newsletter that asks for one."""
    return challenge.pow_challenge()


@bp.route("/confirm/<token>", methods=["GET", "HEAD"])
@capability_link
@rate_limited("RATELIMIT_LINKS")
def confirm_page(token: str) -> Response | str | tuple[str, int]:
    """Show the confirm button; never confirms, except a one-click newsletter's GET."""
    session = get_session()
    try:
        outcome, claims = subscriptions.read_confirm_link(session, token)
    except ExpiredToken:
        return render_template("link_expired.html", token=token), 410
    except InvalidToken:
        return _invalid_link()
    i18n.use_language_of(outcome.newsletters)
    scanner = may_be_scanner(claims.issued_at, request.user_agent.string)
    if request.method == "GET" and not scanner and subscriptions.confirms_on_open(outcome,
                                                                                 claims):
        outcome = subscriptions.confirm(session, token, _origin(), ConfirmMethod.one_click)
        return render_template("confirmed.html", outcome=outcome)
    email = outcome.subscriptions[0].subscriber.email if scanner else None
    return render_template("confirm.html", outcome=outcome, token=token, scanner_email=email)


@bp.post("/confirm/<token>")
@capability_link
@rate_limited("RATELIMIT_LINKS")
def confirm(token: str) -> Response | str | tuple[str, int]:
    """Confirm the subscriptions a link names (idempotent)."""
    try:
        outcome = subscriptions.confirm(get_session(), token, _origin())
    except ExpiredToken:
        return render_template("link_expired.html", token=token), 410
    except InvalidToken:
        return _invalid_link()
    i18n.use_language_of(outcome.newsletters)
    return render_template("confirmed.html", outcome=outcome)


@bp.post("/confirm/<token>/resend")
@capability_link
@rate_limited("RATELIMIT_SIGNUP", shared=CONFIRMATION_EMAILS)
def resend_confirmation(token: str) -> Response | str | tuple[str, int]:
    """Send a new confirm link in place of an expired one."""
    session = get_session()
    try:
        subscriptions.read_confirm_link(session, token)
    except ExpiredToken as expired:
        confirmations.resend_confirmation(session, expired, _origin())
        return render_template("link_resent.html")
    except InvalidToken:
        return _invalid_link()
    outcome, _claims = subscriptions.read_confirm_link(session, token)
    i18n.use_language_of(outcome.newsletters)
    return render_template("confirm.html", outcome=outcome, token=token)


@bp.route("/unsubscribe/<token>", methods=["GET", "HEAD"])
@capability_link
@rate_limited("RATELIMIT_LINKS")
def unsubscribe_page(token: str) -> Response | str | tuple[str, int]:
    """Show the unsubscribe button; never unsubscribes."""
    try:
        outcome = subscriptions.read_unsubscribe_link(get_session(), token)
    except InvalidToken:
        return _invalid_link()
    i18n.use_language_of(outcome.newsletters)
    return render_template("unsubscribe.html", outcome=outcome, token=token)


@bp.post("/unsubscribe/<token>")
@capability_link
@rate_limited("RATELIMIT_LINKS")
def unsubscribe(token: str) -> Response | str | tuple[str, int]:
    """Unsubscribe: the page's button and RFC 8058 one-click POSTs (no cookie, no CSRF)."""
    try:
        outcome = subscriptions.unsubscribe(get_session(), token, _origin())
    except InvalidToken:
        return _invalid_link()
    if wants_json():
        return jsonify(ok=True, status="unsubscribed")
    i18n.use_language_of(outcome.newsletters)
    return render_template("unsubscribed.html", outcome=outcome)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 when the app and its database answer."""
    get_session().execute(text("SELECT 1"))
    return jsonify(ok=True)


def _invalid_link() -> Response:
    return error_response(404, _("This link is not valid. It may be incomplete or no longer in "
                                 "use: copy the whole link from the email, or sign up again."))


def _origin() -> ConsentOrigin:
    source = request.form.get("source") if request.form else None
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        source = body.get("source")
    # Only an http(s) page's origin and path: no javascript:, no query string, no fragment.
    source = clean_source(source) or clean_source(request.referrer)
    return ConsentOrigin(ip=request.remote_addr, user_agent=request.user_agent.string or None,
                          source=source)
