"""The dev mailbox: in debug mode only, the emails the app sent, with clickable links."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from ..mailers import DevMailbox

bp = Blueprint("devmail", __name__, url_prefix="/dev/mailbox")


def _mailbox() -> DevMailbox:
    mailer = current_app.extensions["mailer"]
    if not isinstance(mailer, DevMailbox):
        abort(404, description="The dev mailbox is on when NEWSLETTER_MAILER is devmail://.")
    return mailer


@bp.get("/")
def inbox() -> str:
    """List the emails the app sent, newest first."""
    return render_template("devmail/inbox.html", messages=_mailbox().list_messages())


@bp.get("/<message_id>")
def message(message_id: str) -> str:
    """Show one email: its HTML part in a sandboxed frame, and its text."""
    mail = _mailbox().get_message(message_id)
    if mail is None:
        abort(404, description="No such email in the dev mailbox.")
    return render_template("devmail/message.html", mail=mail)
