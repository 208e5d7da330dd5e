"""The embed blueprint: embed.js, the form description it reads, the iframe page, the snippets."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import escape
from wtforms import Field

from ... import i18n, links
from ...models import FieldMode, Newsletter
from ..lookup import newsletter_or_404
from ..security import cors_json, framable
from . import bots, challenge
from .codes import code_texts
from .forms import signup_form_class

bp = Blueprint("embed", __name__)

ASSET_MAX_AGE = 3600  # embed.js and embed.css keep their URL: an hour until a change shows
INPUT_TYPES = {"EmailField": "email", "StringField": "text", "BooleanField": "checkbox"}


@bp.get("/embed.js")
def script() -> Response:
    """Serve the script that renders and enhances the forms on publishers' pages."""
    return _asset("embed.js", "text/javascript")


@bp.get("/embed.css")
def stylesheet() -> Response:
    """Serve the scoped stylesheet embed.js links for the forms it renders."""
    return _asset("embed.css", "text/css")


@bp.get("/embed/<slug>/form.json")
@cors_json
def form_description(slug: str) -> Response:
    """Describe a newsletter's form for embed.js: texts, fields, where to post."""
    newsletter = newsletter_or_404(slug)
    i18n.use_language(newsletter.language)
    response = jsonify(describe_form(newsletter))
    # Not cached: it carries a fresh fill-time stamp for the bot trap.
    response.cache_control.no_store = True
    return response


@bp.get("/embed/<slug>")
@framable
def frame(slug: str) -> str:
    """Show a newsletter's form alone, made to sit in a publisher's iframe."""
    newsletter = newsletter_or_404(slug)
    i18n.use_language(newsletter.language)
    form = signup_form_class(newsletter)(formdata=None)
    return render_template("newsletter.html", newsletter=newsletter, form=form, embed=True)


@bp.get("/newsletters/<slug>/embed-code")
def embed_code(slug: str) -> str:
    """Show the three ways to put a newsletter's form on a page, ready to copy."""
    newsletter = newsletter_or_404(slug)
    i18n.use_language(newsletter.language)
    return render_template("embed_code.html", newsletter=newsletter,
                           snippets=snippets(newsletter, links.base_url()))


def describe_form(newsletter: Newsletter) -> dict[str, Any]:
    """Return what embed.js needs to draw a newsletter's form and answer its reader."""
    form = signup_form_class(newsletter)(formdata=None)
    return {
        "slug": newsletter.slug,
        "name": newsletter.name,
        "language": i18n.known_language(newsletter.language),  # embed.js sets the box's lang
        "description": newsletter.description,
        "action": links.base_url() + url_for("public.subscribe", slug=newsletter.slug),
        "fields": [_describe_field(field) for field in form if field.type != "HiddenField"],
        "consent_text": newsletter.consent_text,
        "required_note": _("indicates required"),
        "submit_label": _("Subscribe"),
        "success": {"title": i18n.success_title(newsletter),
                    "message": i18n.success_message(newsletter)},
        "traps": {"honeypot": bots.HONEYPOT_FIELD, "stamp_field": bots.STAMP_FIELD,
                  "stamp": bots.fill_stamp()},
        "challenge": challenge.describe(newsletter),
        "code": code_texts(),  # the code step after a signup (POST /confirm/code)
    }


def snippets(newsletter: Newsletter, base: str) -> dict[str, str]:
    """Return the copy-paste snippets: a plain form, embed.js, an iframe."""
    plain = render_template("embed/snippet_form.html", newsletter=newsletter, base=base,
                            form=signup_form_class(newsletter)(formdata=None))
    script = (f'<script src="{base}/embed.js" async></script>\n'
              f'<div data-newsletter="{newsletter.slug}"></div>')
    title = _("Sign up for %(name)s", name=newsletter.name)
    iframe = (f'<iframe src="{base}/embed/{newsletter.slug}" title="{escape(title)}" '
              f'width="100%" height="{_frame_height(newsletter)}" '
              'style="border: 0; max-width: 32rem;"></iframe>')
    return {"form": plain.strip(), "script": script, "iframe": iframe}


def _describe_field(field: Field) -> dict[str, Any]:
    render_kw = field.render_kw or {}
    return {
        "name": field.name,
        "type": INPUT_TYPES.get(field.type, "text"),
        "label": str(field.label.text),
        "required": bool(field.flags.required),
        "autocomplete": render_kw.get("autocomplete"),
        "maxlength": render_kw.get("maxlength"),
    }


def _frame_height(newsletter: Newsletter) -> int:
    # Room for the form and its error messages; the frame scrolls if a publisher's text is long.
    height = 260
    if newsletter.name_field is not FieldMode.hidden:
        height += 90
    if newsletter.consent_text:
        height += 70
    return height


def _asset(filename: str, mimetype: str) -> Response:
    assert current_app.static_folder is not None
    response = send_from_directory(current_app.static_folder, filename, mimetype=mimetype,
                                   max_age=ASSET_MAX_AGE)
    response.cache_control.public = True
    # Publishers' pages load it from their origin; some isolate with COEP.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
