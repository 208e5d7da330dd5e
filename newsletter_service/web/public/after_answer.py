"""Work a view leaves for after its answer: the server sends the answer, then runs it."""

from __future__ import annotations

import logging

from flask import Response, current_app, make_response
from flask.typing import ResponseReturnValue

from ... import signup_queue
from ...db import get_session

log = logging.getLogger(__name__)


def carry_out_signup_after(answer: ResponseReturnValue,
                           recorded: signup_queue.RecordedSignup) -> Response:
    """Return ``answer``; once it has been sent, carry out the recorded signup.

    The WSGI server calls the response's ``close`` after writing its last byte: the
    reader has the answer before any work that depends on who they are begins. On a
    busy server (other signups were waiting), and if this process cannot finish it, the
    worker carries it out (signup_queue.process_waiting).
    """
    response = make_response(answer)
    if not recorded.alone:
        return response
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def carry_out() -> None:
        with app.app_context():
            try:
                signup_queue.process(get_session(), recorded.id)
            except Exception:
                log.exception("signup request %s: left for the worker", recorded.id)

    response.call_on_close(carry_out)
    return response
