"""Security headers: who may read our JSON (CORS), frame our pages, and what pages may load.

Publishers put our forms on their own sites. The JSON endpoints answer CORS for the
origins a newsletter allows (any origin when it lists none), never with credentials;
the iframe page, and the pages a form posted inside it leads to, may be framed by
those same origins. Every other page refuses to be framed (clickjacking).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_cors.core import get_cors_options, set_cors_headers
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ..models import Newsletter
from ..newsletters import UnknownNewsletter
from .lookup import find_request_newsletter
from .public import challenge
from .public.signup_input import FORM_TYPES

View = TypeVar("View", bound=Callable[..., Any])
DEFAULT_PORTS = {"http": 80, "https": 443}
PREFLIGHT_MAX_AGE = 600
# Our pages load only our own scripts, styles and images, and post only to us.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
# From the most to the least strict: where a view or blueprint asks for a stricter
# policy than the default, the stricter one wins.
REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin",
                     "strict-origin-when-cross-origin")
DEFAULT_REFERRER_POLICY = "strict-origin-when-cross-origin"
# Host names and IP addresses only: flask-cors would read "*" or "(" as a regular expression.
HOST_PATTERN = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def init_app(app: Flask) -> None:
    """Answer CORS on the JSON endpoints and set the security headers of every response."""
    app.after_request(_add_cors_headers)
    app.after_request(_add_security_headers)


def exempt_csrf(csrf: CSRFProtect, app: Flask) -> None:
    """Exempt from CSRF the views that declared it (``cross_site_form``, ``capability_link``)."""
    for view in app.view_functions.values():
        if getattr(view, "csrf_exempt", False):
            csrf.exempt(view)


def cross_site_form(view: View) -> View:
    """Declare a view that readers post to from publishers' pages: no session, no CSRF token.

    A signup changes nothing that a forged one could abuse: it only queues a confirmation.
    """
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def csrf_checked_by_its_form(view: View) -> View:
    """Declare a view whose Flask-WTF form checks the CSRF token itself, later than usual.

    The console's import raises the body limit before the body is parsed; CSRFProtect's
    check would parse it first, under the small public limit.
    """
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def capability_link(view: View) -> View:
    """Declare a view behind a link in an email: the signed token in its path is the credential.

    It needs no session, cookie or CSRF token, so a mail client's web view that blocks
    cookies, a publisher's own page or a script may post it at any time within the link's
    life; and its answer sends no Referer, which would carry the token elsewhere.
    """
    view.csrf_exempt = True  # type: ignore[attr-defined]
    view.referrer_policy = "no-referrer"  # type: ignore[attr-defined]
    return view


def cors_json(view: View) -> View:
    """Declare a JSON view that publishers' pages read: CORS for its newsletters' origins.

    The origins are those the newsletters named in its path (or, without a slug, in its
    posted list) allow; any origin when they list none. Never with credentials.
    """
    view.cors = True  # type: ignore[attr-defined]
    return view


def framable(view: View) -> View:
    """Declare a page made to sit in a publisher's iframe: its newsletter's origins may frame it."""
    view.framing = "always"  # type: ignore[attr-defined]
    return view


def answers_into_frame(view: View) -> View:
    """Declare a form target whose answer goes back into our iframe when posted from it.

    The iframe's form posts ``embed=1``; that answer may be framed like the iframe page.
    """
    view.framing = "when_embedded"  # type: ignore[attr-defined]
    return view


def _view_policy(name: str) -> Any:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, name, None)


def stricter_referrer_policy(*policies: str | None) -> str:
    """Return the strictest of ``policies`` (the default when none is known)."""
    known = [REFERRER_POLICIES.index(p) for p in policies if p in REFERRER_POLICIES]
    return REFERRER_POLICIES[min(known)] if known else DEFAULT_REFERRER_POLICY


def is_embedded() -> bool:
    """Tell whether this request comes from our iframe page, so its answer goes back into it."""
    framing = _view_policy("framing")
    if framing == "always":
        return True
    if framing != "when_embedded" or request.method != "POST":
        return False
    if request.mimetype not in FORM_TYPES:
        return False
    try:
        return request.form.get("embed") == "1"
    except HTTPException:  # a body too large or malformed: answered as a normal page
        return False


def allowed_origins(newsletters: list[Newsletter]) -> list[str] | None:
    """Return the origins that every one of ``newsletters`` allows; None means any origin."""
    allowed: set[str] | None = None
    for newsletter in newsletters:
        if not newsletter.origins:
            continue
        # A line that is not an origin allows nothing: a typo never opens the form to all.
        origins = {o for o in map(normalize_origin, newsletter.origins) if o}
        allowed = origins if allowed is None else allowed & origins
    return None if allowed is None else sorted(allowed)


def normalize_origin(value: str) -> str | None:
    """Return ``scheme://host[:port]`` as browsers send it in ``Origin``, or None if invalid."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if not HOST_PATTERN.fullmatch(host):
        return None
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def _request_origins() -> list[str] | None:
    """Return the origins this request's newsletters allow (None: any); none if unknowable."""
    try:
        return allowed_origins(_request_newsletters())
    except SQLAlchemyError:  # the database is down: the 503 goes out, readable by no one else
        return []


def _request_newsletters() -> list[Newsletter]:
    """Return the known newsletters this request names (by path, or the combined form's list)."""
    if _names_newsletter_in_path():
        slugs = [str((request.view_args or {})["slug"])]
    else:
        slugs = _posted_slugs()
    found = []
    for slug in dict.fromkeys(slugs):
        try:
            found.append(find_request_newsletter(slug))
        except UnknownNewsletter:
            continue  # its 404 is no secret: any origin may read it
    return found


def _names_newsletter_in_path() -> bool:
    return "slug" in (request.view_args or {})


def _posted_slugs() -> list[str]:
    if request.is_json:
        payload = request.get_json(silent=True)
        chosen = payload.get("newsletters") if isinstance(payload, dict) else None
        return [s for s in chosen if isinstance(s, str)] if isinstance(chosen, list) else []
    if request.mimetype in FORM_TYPES:
        try:
            return request.form.getlist("newsletters")
        except HTTPException:
            return []
    return []


def _add_cors_headers(response: Response) -> Response:
    if not _view_policy("cors"):
        return response
    response.vary.add("Origin")
    # A preflight of the combined form carries no list of newsletters: it may go ahead,
    # and the answer to the POST is readable only by an origin all its newsletters allow.
    combined_preflight = request.method == "OPTIONS" and not _names_newsletter_in_path()
    origins = None if combined_preflight else _request_origins()
    options = get_cors_options(current_app, {
        "origins": "*" if origins is None else origins,
        "send_wildcard": origins is None,
        "supports_credentials": False,
        "methods": ["GET", "POST"],
        "allow_headers": ["Content-Type", "Accept"],
        "max_age": PREFLIGHT_MAX_AGE,
        "always_send": False,
        "vary_header": False,  # added above, for every answer of these endpoints
    })
    return set_cors_headers(response, options)


def _page_policy() -> str:
    """Return PAGE_POLICY, opened to a CAPTCHA provider when the page shows its widget."""
    providers = " ".join(challenge.extra_sources())
    if not providers:
        return PAGE_POLICY
    return (PAGE_POLICY.replace("script-src 'self'", f"script-src 'self' {providers}")
            .replace("connect-src 'self'", f"connect-src 'self' {providers}")
            + f"; frame-src {providers}")


def _add_security_headers(response: Response) -> Response:
    """Set a strict Content-Security-Policy, framing rules and privacy headers on every answer."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if is_embedded():
        origins = _request_origins()
        ancestors = "*" if origins is None else " ".join(["'self'", *origins])
        response.headers.pop("X-Frame-Options", None)
    else:
        ancestors = "'none'"
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = f"{_page_policy()}; frame-ancestors {ancestors}"
    # A view's own policy (a capability link's no-referrer), a blueprint's (the console's
    # same-origin) and the default: the strictest wins.
    response.headers["Referrer-Policy"] = stricter_referrer_policy(
        _view_policy("referrer_policy"), response.headers.get("Referrer-Policy"),
        DEFAULT_REFERRER_POLICY)
    return response
