"""The console's login and logout, its sessions, and the decorator every console view wears.

A console session is Flask's signed cookie, signed with SESSION_SECRET_KEY (not the key of
emailed links). It names the admin and their ``session_version``, and ends when the admin
logs out, gets a new password or is disabled (the version moves on), after
ADMIN_IDLE_TIMEOUT_SECONDS unused, and PERMANENT_SESSION_LIFETIME after the login.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from itsdangerous import URLSafeTimedSerializer

from ... import admins
from ...db import get_session
from ...models import Admin
from ..limits import rate_limited
from .forms import LoginForm

bp = Blueprint("admin_auth", __name__, url_prefix="/admin")

View = TypeVar("View", bound=Callable[..., Any])
WRONG = "Email or password is wrong."
SESSION_KEYS = ("admin_id", "admin_version", "since", "seen")  # since, seen: Unix times


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, signed with SESSION_SECRET_KEY instead of SECRET_KEY."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = app.config.get("SESSION_SECRET_KEY")
        if not key:
            return None
        return URLSafeTimedSerializer(
            key, salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method},
        )


def init_app(app: Flask) -> None:
    """Sign the app's sessions with the session key (config.py derives or reads it)."""
    app.session_interface = ConsoleSessionInterface()


def login_required(view: View) -> View:
    """Send visitors who are not logged in to the login page; keep the admin in ``g``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        admin = _session_admin()
        if admin is None:
            for key in SESSION_KEYS:
                session.pop(key, None)
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
@rate_limited("RATELIMIT_LOGIN", methods=["POST"])  # loading the page is no attempt
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
    _start_session(admin)
    return redirect(_next_page())


def _start_session(admin: Admin) -> None:
    session.clear()  # nothing from before the login survives it
    now = int(time.time())
    session.update(admin_id=admin.id, admin_version=admin.session_version, since=now, seen=now)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out everywhere (a POST, so CSRFProtect checks its token and no page can log out)."""
    admin = _session_admin()
    if admin is not None:
        admins.end_sessions(get_session(), admin.id)  # copies of the cookie die too
    session.clear()
    return redirect(url_for("admin_auth.login"))


def _session_admin() -> Admin | None:
    """Return the admin of this request's session, unless it ended; note the admin's visit."""
    values: list[int] = []
    for key in SESSION_KEYS:
        value = session.get(key)
        if type(value) is not int:  # a bool is no id or time either
            return None
        values.append(value)
    admin_id, version, since, seen = values
    now = int(time.time())
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if now - seen > current_app.config["ADMIN_IDLE_TIMEOUT_SECONDS"] or now - since > lifetime:
        return None
    admin = admins.session_admin(get_session(), admin_id, version)
    if admin is not None:
        session["seen"] = now
    return admin


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
