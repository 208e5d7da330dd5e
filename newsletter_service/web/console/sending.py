"""The console's sending system: webhook endpoints, sync targets, suppressions."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length

from ... import suppressions, webhooks
from ...addresses import InvalidAddress
from ...db import get_session
from ...models import SuppressionReason, WebhookEndpoint
from .auth import login_required
from .forms import ActionForm

bp = Blueprint("admin_sending", __name__, url_prefix="/admin/sending")


class EndpointForm(FlaskForm):
    """A new webhook endpoint."""

    url = StringField("Receiver URL", validators=[DataRequired(), Length(max=2048)])
    events = SelectMultipleField("Events", choices={e: e for e in webhooks.EVENTS},
                                 default=list(webhooks.EVENTS))


class SuppressionForm(FlaskForm):
    """An address to suppress by hand."""

    email = StringField("Email address", validators=[DataRequired(), Length(max=254)])
    reason = SelectField("Reason", choices={r.value: r.value for r in SuppressionReason},
                         default="manual")


@bp.get("/")
@login_required
def endpoints() -> str:
    """List the endpoints and sync targets with their state and latest deliveries."""
    return _page(EndpointForm())


@bp.post("/")
@login_required
def add_endpoint() -> ResponseReturnValue:
    """Add a webhook endpoint; its secret is shown on its row."""
    form = EndpointForm()
    if not form.validate_on_submit():
        flash("Enter the receiver's URL and pick at least one event.")
        return redirect(url_for(".endpoints"))
    try:
        endpoint = webhooks.add_webhook(get_session(), form.url.data or "", form.events.data)
    except webhooks.InvalidEndpoint as error:
        flash(str(error))
        return redirect(url_for(".endpoints"))
    # Shown once, in this answer: never in a flash message, which the session cookie carries.
    return _page(EndpointForm(formdata=None), created=endpoint)


def _page(form: EndpointForm, created: WebhookEndpoint | None = None) -> str:
    session = get_session()
    listed = webhooks.all_endpoints(session)
    log = {e.id: webhooks.deliveries(session, e.id, limit=20) for e in listed}
    return render_template("admin/sending.html", endpoints=listed, log=log, form=form,
                           action=ActionForm(), created=created, events=webhooks.EVENTS)


@bp.post("/<int:endpoint_id>/<any(test, resume, remove):action>")
@login_required
def endpoint_action(endpoint_id: int, action: str) -> ResponseReturnValue:
    """Send a test event to an endpoint, resume it, or remove it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    use_case = {"test": webhooks.send_test_event, "resume": webhooks.resume_endpoint,
                "remove": webhooks.remove_endpoint}[action]
    try:
        use_case(get_session(), endpoint_id)
    except webhooks.UnknownEndpoint:
        abort(404)
    flash({"test": "Test event queued.", "resume": "Endpoint resumed.",
           "remove": "Endpoint removed."}[action])
    return redirect(url_for(".endpoints"))


@bp.get("/suppressions")
@login_required
def suppression_list() -> str:
    """List the suppressed addresses with their reason and date."""
    return render_template("admin/suppressions.html",
                           suppressions=suppressions.all_suppressions(get_session()),
                           form=SuppressionForm(), action=ActionForm())


@bp.post("/suppressions")
@login_required
def add_suppression() -> ResponseReturnValue:
    """Suppress an address by hand."""
    form = SuppressionForm()
    if form.validate_on_submit():
        try:
            suppressions.add(get_session(), form.email.data or "", form.reason.data)
            flash("Address suppressed.")
        except InvalidAddress as error:
            flash(str(error))
    return redirect(url_for(".suppression_list"))


@bp.post("/suppressions/remove")
@login_required
def remove_suppression() -> ResponseReturnValue:
    """Lift a suppression."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        removed = suppressions.remove(get_session(), request.form.get("email", ""))
    except InvalidAddress:
        removed = False
    flash("Suppression removed." if removed else "That address is not suppressed.")
    return redirect(url_for(".suppression_list"))
