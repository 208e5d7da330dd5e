"""Turn a signup request's body into form data, refusing what is malformed.

A plain HTML form (urlencoded or multipart) and a JSON object both become one
MultiDict, so one form class validates both. Anything else is refused here with
a 4xx and a message, before a form or the database sees it.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import abort, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ...challenges import RESPONSE_FIELDS
from .bots import BOT_FIELDS

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SINGLE_VALUED = ("email", "name", "consent", "source", "embed", *BOT_FIELDS, *RESPONSE_FIELDS)
MULTI_VALUED = ("newsletters",)  # the combined form's checkboxes
REPLACEMENT_CHARACTER = "\ufffd"
NOT_UTF8 = "The form data is not valid UTF-8."


def read_signup_input() -> MultiDict[str, str]:
    """Return the request's fields, or abort with 400/415 when the body is malformed."""
    if request.is_json:
        return _from_json()
    data: MultiDict[str, str]
    if request.mimetype in FORM_TYPES:
        _refuse_undecodable_form()
        data = request.form
    elif not request.get_data(cache=True):
        data = MultiDict()  # an empty body: the form reports the missing fields
    else:
        abort(415, description=_("Send the form as form data or as JSON."))
    for field in SINGLE_VALUED:
        if len(data.getlist(field)) > 1:
            abort(400, description=f"The field '{field}' was sent more than once.")
    return MultiDict(data)


def _refuse_undecodable_form() -> None:
    """Refuse form data that is not UTF-8, which Werkzeug would pass on mangled."""
    if request.mimetype == "application/x-www-form-urlencoded":
        raw = unquote_to_bytes(request.get_data(cache=True).replace(b"+", b" "))
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            abort(400, description=NOT_UTF8)
    # Multipart values arrive decoded, bad bytes as U+FFFD: nobody types that on purpose.
    elif any(REPLACEMENT_CHARACTER in value for value in request.form.values()):
        abort(400, description=NOT_UTF8)


def _from_json() -> MultiDict[str, str]:
    payload = request.get_json()  # malformed JSON: 400 with a message (web/bodies.py)
    if not isinstance(payload, dict):
        abort(400, description="Send a JSON object, such as {\"email\": \"you@example.com\"}.")
    fields: MultiDict[str, str] = MultiDict()
    for key, value in payload.items():
        if key == "consent" and isinstance(value, bool):
            if value:
                fields[key] = "y"
        elif key in MULTI_VALUED and _is_list_of_strings(value):
            fields.setlist(key, value)
        elif isinstance(value, str):
            fields[key] = value
        elif value is not None:
            abort(400, description=f"The field '{key}' must be a string.")
    return fields


def _is_list_of_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
