"""The console: dashboard, newsletters, exports and imports, where readers sign up."""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from ... import exports, imports, newsletters, reports
from ...db import get_session
from ...models import Newsletter
from ..lookup import any_newsletter_or_404
from ..security import csrf_checked_by_its_form
from . import charts
from .auth import actor, login_required
from .downloads import export_download
from .forms import ActionForm, ImportForm, NewsletterForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

MAX_SHOWN_ERRORS = 200


@bp.get("/")
@login_required
def dashboard() -> str:
    """Show every newsletter's counts and the signups of the last 90 days."""
    board = reports.dashboard(get_session())
    chart = charts.activity_chart(board.days, "Signups and confirmations per day, last 90 days")
    domain_charts = {f.newsletter.id: charts.rate_chart(
        f.domains, f"Confirmation rate per recipient domain: {f.newsletter.name}",
        f"domains-{f.newsletter.id}") for f in board.confirmations if f.domains}
    return render_template("admin/dashboard.html", board=board, chart=chart,
                           domain_charts=domain_charts, duration=charts.duration,
                           percent=charts.percent, statuses=exports.STATUSES,
                           formats=exports.FORMATS)


@bp.route("/newsletters/new", methods=["GET", "POST"])
@login_required
def new_newsletter() -> ResponseReturnValue:
    """Create a newsletter."""
    defaults = {c: Newsletter.__table__.c[c].default.arg  # type: ignore[union-attr]
                for c in ("success_title", "success_message", "send_welcome")}
    form = NewsletterForm(data=defaults)
    if form.validate_on_submit():
        settings = form.settings()
        try:
            created = newsletters.create_newsletter(get_session(), settings.pop("slug"),
                                                    settings.pop("name"), **settings)
        except newsletters.InvalidNewsletter as error:
            return render_template("admin/newsletter_form.html", form=form,
                                   error=form.place_error(error)), 422
        flash(f"Created {created.name}.")
        return redirect(url_for("admin.edit_newsletter", slug=created.slug))
    return render_template("admin/newsletter_form.html", form=form, error=None)


@bp.route("/newsletters/<slug>", methods=["GET", "POST"])
@login_required
def edit_newsletter(slug: str) -> ResponseReturnValue:
    """Edit a newsletter's settings."""
    newsletter = any_newsletter_or_404(slug)
    form = NewsletterForm(obj=newsletter)
    if form.validate_on_submit():
        try:
            newsletters.update_newsletter(get_session(), newsletter, form.settings())
        except newsletters.InvalidNewsletter as error:
            return render_template("admin/newsletter_form.html", form=form,
                                   error=form.place_error(error), newsletter=newsletter,
                                   action=ActionForm()), 422
        flash("Saved.")
        return redirect(url_for("admin.edit_newsletter", slug=newsletter.slug))
    return render_template("admin/newsletter_form.html", form=form, error=None,
                           newsletter=newsletter, action=ActionForm())


@bp.post("/newsletters/<slug>/active")
@login_required
def set_active(slug: str) -> ResponseReturnValue:
    """Deactivate or reactivate a newsletter."""
    newsletter = any_newsletter_or_404(slug)
    newsletters.set_active(get_session(), newsletter, request.form.get("active") == "1")
    flash("Reactivated." if newsletter.is_active else "Deactivated: its forms take no signups.")
    return redirect(url_for("admin.edit_newsletter", slug=slug))


@bp.get("/newsletters/<slug>/export")
@login_required
def export(slug: str) -> Response:
    """Download the newsletter's subscribers, streamed as they are read."""
    return export_download(any_newsletter_or_404(slug), actor())


@bp.route("/newsletters/<slug>/import", methods=["GET", "POST"])
@csrf_checked_by_its_form
@login_required
def import_subscribers(slug: str) -> str | tuple[str, int]:
    """Import readers from an uploaded CSV file (larger than other requests may be)."""
    newsletter = any_newsletter_or_404(slug)
    # This endpoint alone takes big bodies; CSRFProtect is off for it so that the limit
    # is raised before the body is parsed, and the form checks the CSRF token instead.
    request.max_content_length = current_app.config["ADMIN_UPLOAD_MAX_BYTES"]
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("admin/import.html", newsletter=newsletter, form=form, report=None)
    try:
        report = imports.import_csv(get_session(), newsletter, _uploaded_lines(form),
                                    confirmed=form.confirmed.data, actor=actor())
    except imports.UnreadableFile as error:
        return render_template("admin/import.html", newsletter=newsletter, form=form,
                               report=None, error=error), 422
    return render_template("admin/import.html", newsletter=newsletter, form=form, report=report,
                           max_errors=MAX_SHOWN_ERRORS)


def _uploaded_lines(form: ImportForm) -> io.TextIOWrapper:
    """Return the uploaded file's lines; bytes that are no UTF-8 reach the import as such."""
    return io.TextIOWrapper(form.file.data.stream, encoding="utf-8-sig",
                            errors="surrogateescape", newline="")


@bp.get("/sources")
@login_required
def sources() -> str:
    """Show the pages readers signed up on, with signups and confirmations per newsletter."""
    return render_template("admin/sources.html", rows=reports.source_report(get_session()))


@bp.get("/exports")
@login_required
def export_log() -> str:
    """Show who exported what, and when."""
    return render_template("admin/exports.html", entries=reports.export_log(get_session()))
