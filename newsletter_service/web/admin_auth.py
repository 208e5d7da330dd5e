"""The console's login and logout, and the decorator every console view wears."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from .. import admins
from ..db import get_session
from ..models import Admin
from .admin_forms import LoginForm

bp = Blueprint("admin_auth", __name__, url_prefix="/admin")

View = TypeVar("View", bound=Callable[..., Any])
WRONG = "Email or password is wrong."


def login_required(view: View) -> View:
    """Send visitors who are not logged in to the login page; keep the admin in ``g``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        admin_id = session.get("admin_id")
        admin = admins.find_admin(get_session(), admin_id) if isinstance(admin_id, int) else None
        if admin is None:
            session.pop("admin_id", None)
            return redirect(url_for("admin_auth.login", next=request.full_path.rstrip("?")))
        g.admin = admin
        return view(*args, **kwargs)

    return cast(View, wrapped)


def current_admin() -> Admin:
    """Return the admin of this request (inside a ``login_required`` view)."""
    admin: Admin = g.admin
    return admin


def actor() -> str:
    """Return how the export log and consent events name this admin."""
    return f"admin {current_admin().email}"


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the login form; log in; refuse for a while after repeated failures."""
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form, error=None)
    try:
        admin = admins.log_in(get_session(), form.email.data or "", form.password.data or "",
                              request.remote_addr)
    except admins.TooManyAttempts as refused:
        minutes = (refused.retry_after + 59) // 60
        message = f"Too many failed logins. Wait {minutes} minutes, then try again."
        page = render_template("admin/login.html", form=form, error=message)
        return Response(page, 429, {"Retry-After": str(refused.retry_after)})
    except admins.LoginFailed:
        return render_template("admin/login.html", form=form, error=WRONG)
    session.clear()  # nothing from before the login survives it
    session["admin_id"] = admin.id
    return redirect(_next_page())


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out (a POST, so CSRFProtect checks its token and no page can log an admin out)."""
    session.clear()
    return redirect(url_for("admin_auth.login"))


def _next_page() -> str:
    target = request.args.get("next", "")
    # Only a page of the console: never another site (an open redirect).
    if target.startswith("/admin/") and not target.startswith("/admin//") and "\\" not in target:
        return target
    return url_for("admin.dashboard")


@bp.after_app_request
def _admin_headers(response: Response) -> Response:
    if request.blueprint and request.blueprint.startswith("admin"):
        # Pages of personal data: kept in no cache, and no URL of them leaks elsewhere.
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
