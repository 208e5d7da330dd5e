"""The optional challenge in the web layer: hand out proofs of work, check answers, widgets.

A newsletter with a challenge refuses a signup that does not pass it (422, with an
error on the ``challenge`` field), whatever form it comes from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from flask import Flask, Response, current_app, g, jsonify, request, url_for
from flask_babel import lazy_gettext
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from ... import links
from ...challenges import (
    POW_FIELD,
    PROVIDERS,
    ChallengeKind,
    new_pow_challenge,
    spend_pow,
    verify_with_provider,
)
from ...db import get_session
from ...models import Newsletter

FAILED = lazy_gettext(
    "Please complete the check that you are not a robot, then press Subscribe again.")


def pow_challenge() -> Response:
    """Answer a fresh proof-of-work challenge (never cached: each is used once)."""
    config = current_app.config
    response = jsonify(new_pow_challenge(_pow_key(), int(config["CHALLENGE_POW_MAX_NUMBER"]),
                                         int(config["CHALLENGE_TTL_SECONDS"])))
    response.cache_control.no_store = True
    return response


def passes(newsletters: Iterable[Newsletter], fields: MultiDict[str, str]) -> bool:
    """Tell whether the post passes every challenge its newsletters ask for."""
    kinds = {ChallengeKind(n.challenge) for n in newsletters} - {ChallengeKind.none}
    # The proof of work last: checking it spends it, so a failed CAPTCHA must not.
    ordered = sorted(kinds, key=lambda kind: kind is ChallengeKind.pow)
    return all(_passes(kind, fields) for kind in ordered)


def _passes(kind: ChallengeKind, fields: MultiDict[str, str]) -> bool:
    if kind is ChallengeKind.pow:
        return spend_pow(get_session(), _pow_key(), fields.get(POW_FIELD, ""))
    prefix = kind.value.upper()
    config = current_app.config
    return verify_with_provider(config[f"{prefix}_VERIFY_URL"], config[f"{prefix}_SECRET_KEY"],
                                fields.get(PROVIDERS[kind].response_field, ""),
                                request.remote_addr)


def widget(*newsletters: Newsletter) -> Markup:
    """Return the markup of the newsletters' challenges for a form we render, or nothing."""
    kinds = dict.fromkeys(ChallengeKind(n.challenge) for n in newsletters)
    return Markup("").join(_widget(kind) for kind in kinds if kind is not ChallengeKind.none)


def _widget(kind: ChallengeKind) -> Markup:
    if kind is ChallengeKind.pow:
        return Markup(
            '<input type="hidden" name="{field}" data-nl-challenge="{url}">'
            '<script src="{script}" defer></script>'
        ).format(field=POW_FIELD, url=url_for("public.challenge_for_browser"),
                 script=url_for("static", filename="challenge.js"))
    provider = PROVIDERS[kind]
    # The page's CSP must let the provider's script and frame in (web/security.py).
    g.challenge_origins = (*g.get("challenge_origins", ()), *provider.origins)
    site_key = current_app.config[f"{kind.value.upper()}_SITE_KEY"] or ""
    return Markup('<div class="{cls}" data-sitekey="{key}"></div>'
                  '<script src="{script}" async defer></script>').format(
        cls=provider.widget_class, key=site_key, script=provider.script)


def describe(newsletter: Newsletter) -> dict[str, str] | None:
    """Return what embed.js needs to put a newsletter's challenge in the forms it draws."""
    kind = ChallengeKind(newsletter.challenge)
    if kind is ChallengeKind.none:
        return None
    if kind is ChallengeKind.pow:
        url = links.base_url() + url_for("public.challenge_for_browser")
        return {"kind": kind.value, "field": POW_FIELD, "url": url}
    provider = PROVIDERS[kind]
    return {"kind": kind.value, "widget_class": provider.widget_class,
            "script": provider.script,
            "sitekey": current_app.config[f"{kind.value.upper()}_SITE_KEY"] or ""}


def extra_sources() -> tuple[str, ...]:
    """Return the origins a CAPTCHA widget on this page loads scripts and frames from."""
    return tuple(dict.fromkeys(g.get("challenge_origins", ())))


def _pow_key() -> str:
    secret = str(current_app.config["SECRET_KEY"])
    return hashlib.sha256(f"newsletter-service.challenge:{secret}".encode()).hexdigest()


def init_app(app: Flask) -> None:
    """Let templates render a newsletter's challenge widget."""
    app.jinja_env.globals["challenge_widget"] = widget
