"""The console's forms: each posts with a CSRF token; the use cases do the checking."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from ...i18n import DEFAULT_LANGUAGE, LANGUAGES
from ...models import FieldMode

NEWSLETTER_FIELDS = ("slug", "name", "description", "language", "name_field", "consent_text",
                     "success_title", "success_message", "confirmation_subject",
                     "confirmation_text", "send_welcome", "one_click_confirm", "challenge",
                     "allowed_origins", "return_url", "reply_to")


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class NewsletterForm(FlaskForm):
    """A newsletter's settings."""

    slug = StringField("Slug (in form URLs: changing it breaks embedded forms)",
                       validators=[DataRequired(), Length(max=64)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional()])
    language = SelectField("Language of its form, pages and emails", default=DEFAULT_LANGUAGE,
                           choices=dict(LANGUAGES))
    name_field = SelectField("Name field", choices={m.value: m.value for m in FieldMode})
    consent_text = TextAreaField("Consent text (a required checkbox; changing it makes a new "
                                 "version)", validators=[Optional()])
    success_title = StringField("Success title", validators=[DataRequired(), Length(max=200)])
    success_message = TextAreaField("Success message", validators=[DataRequired()])
    confirmation_subject = StringField("Confirmation email subject",
                                       validators=[Optional(), Length(max=200)])
    confirmation_text = TextAreaField("Confirmation email text", validators=[Optional()])
    send_welcome = BooleanField("Send a welcome email after confirmation")
    one_click_confirm = BooleanField("Confirm on opening the link (after a delay)")
    # Choices as {value: label}: WTForms 3.3 deprecates tuples, and its SelectChoice is not
    # in types-WTForms yet.
    challenge = SelectField("Challenge against bots", default="none", choices={
        "none": "None (honeypot, fill time and rate limits only)",
        "pow": "Proof of work in the browser (self-hosted, no third party)",
        "turnstile": "Cloudflare Turnstile (needs NEWSLETTER_TURNSTILE_* keys)",
        "hcaptcha": "hCaptcha (needs NEWSLETTER_HCAPTCHA_* keys)"})
    allowed_origins = TextAreaField("Allowed origins (one per line, like https://example.com)",
                                    validators=[Optional()])
    return_url = StringField("Return URL", validators=[Optional(), Length(max=2048)])
    reply_to = StringField("Reply-to address", validators=[Optional(), Length(max=254)])

    FIELDS = NEWSLETTER_FIELDS  # in the order the page shows them

    def place_error(self, error: Exception) -> Exception | None:
        """Show the service's error next to the field it names; return it if it names none."""
        field = getattr(error, "field", None)
        if field not in self.FIELDS:
            return error
        self[field].errors = [*self[field].errors, str(error)]
        return None

    def settings(self) -> dict[str, Any]:
        """Return the entered settings, keyed like the Newsletter's columns."""
        values = {name: self[name].data for name in NEWSLETTER_FIELDS}
        values["name_field"] = FieldMode(values["name_field"])
        for name in ("description", "allowed_origins"):
            values[name] = values[name] or ""
        return values


class ImportForm(FlaskForm):
    """A CSV file of readers."""

    file = FileField("CSV file with an 'email' column", validators=[FileRequired()])
    confirmed = BooleanField("They opted in elsewhere: import them as confirmed, "
                             "send no email")
