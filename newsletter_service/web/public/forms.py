"""Flask-WTF forms: they check the shape of input; the use cases decide the rest."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext, ngettext
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, HiddenField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ...addresses import MAX_ADDRESS_LENGTH, InvalidAddress, normalize_address, too_long_message
from ...models import FieldMode, Newsletter

MAX_NAME_LENGTH = 200


class NormalizedEmail:
    """Validate an address with email-validator and keep its normalized form."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        try:
            address = normalize_address(
                field.data or "",
                check_deliverability=current_app.config["CHECK_DELIVERABILITY"],
            )
        except InvalidAddress as error:
            raise ValidationError(str(error)) from None
        form.address = address  # the value the use case stores


class PublicForm(FlaskForm):
    """A form posted from readers' browsers on any site: no CSRF token.

    Publishers embed it on their own domains and a cross-site POST carries no
    session, so a token cannot be checked. It changes nothing a visitor could
    abuse by forgery: signups stay pending until confirmed by email.
    """

    class Meta:
        csrf = False


def signup_form_class(newsletter: Newsletter) -> type[PublicForm]:
    """Return the form class for a newsletter's fields and required flags."""
    return combined_form_class([newsletter])


def combined_form_class(newsletters: list[Newsletter]) -> type[PublicForm]:
    """Return one form asking what any of ``newsletters`` asks, required where any requires it."""
    fields: dict[str, Any] = {"email": _email_field()}
    modes = {n.name_field for n in newsletters}
    if modes - {FieldMode.hidden}:
        fields["name"] = _name_field(required=FieldMode.required in modes)
    consent_texts = list(dict.fromkeys(n.consent_text for n in newsletters if n.consent_text))
    if consent_texts:
        fields["consent"] = BooleanField(
            " ".join(consent_texts),
            validators=[DataRequired(lazy_gettext("Tick the box to give your consent."))],
        )
    name = "_".join(n.slug for n in newsletters).replace("-", "_")
    if any(n.challenge != "none" for n in newsletters):
        # Holds the verdict of the challenge (web/public/challenge.py) as a field error.
        fields["challenge"] = HiddenField()
    return type(f"SignupForm_{name}", (PublicForm,), fields)


def _email_field() -> EmailField:
    # Lazy texts: a form is built before the page's language may be chosen (the index page
    # draws each newsletter's form in its own), and is read in the language spoken then.
    return EmailField(
        lazy_gettext("Email address"),
        validators=[InputRequired(lazy_gettext("Enter your email address.")),
                    Length(max=MAX_ADDRESS_LENGTH, message=LazyString(too_long_message)),
                    NormalizedEmail()],
        render_kw={"autocomplete": "email", "maxlength": MAX_ADDRESS_LENGTH,
                   "inputmode": "email", "spellcheck": "false"},
    )


def _name_field(required: bool) -> StringField:
    return StringField(
        lazy_gettext("Name"),
        validators=[DataRequired(lazy_gettext("Enter your name.")) if required else Optional(),
                    Length(max=MAX_NAME_LENGTH, message=LazyString(_name_too_long))],
        filters=[_strip_controls],
        render_kw={"autocomplete": "name", "maxlength": MAX_NAME_LENGTH},
    )


def _name_too_long() -> str:
    return ngettext("A name has at most %(num)d character.",
                    "A name has at most %(num)d characters.", MAX_NAME_LENGTH)


def _strip_controls(value: str | None) -> str | None:
    # Names land in CSV exports and admin pages: no line breaks or control characters.
    if value is None:
        return None
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split()) or None
