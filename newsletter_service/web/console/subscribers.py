"""The console's readers: search, one reader's history, resend, unsubscribe, erase, access."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ... import newsletters, not_me, privacy, readers
from ...addresses import mailbox_key
from ...db import get_session
from ...models import Subscriber, SubscriptionStatus
from .auth import actor, login_required
from .forms import ActionForm

bp = Blueprint("admin_subscribers", __name__, url_prefix="/admin/subscribers")


@bp.get("/")
@login_required
def search() -> str:
    """List subscriptions by address, newsletter and status, 50 a page, newest first."""
    session = get_session()
    all_newsletters = newsletters.all_newsletters(session)
    query = readers.SubscriberQuery(
        text=request.args.get("q", "")[:254],
        newsletter_id=request.args.get("newsletter", type=int),
        status=_status(request.args.get("status", "")),
        after=request.args.get("after", type=int),
    )
    page = readers.search(session, query)
    return render_template("admin/subscribers.html", page=page, query=query,
                           newsletters=all_newsletters, statuses=list(SubscriptionStatus))


@bp.get("/<int:subscriber_id>")
@login_required
def detail(subscriber_id: int) -> str:
    """Show a reader's subscriptions and the history of their consent."""
    subscriber = _subscriber_or_404(subscriber_id)
    session = get_session()
    emails = readers.emails_of(session, subscriber)
    block = not_me.current_block(session, mailbox_key(subscriber.email))
    return render_template("admin/subscriber.html", subscriber=subscriber, emails=emails,
                           action=ActionForm(), not_me_block=block)


@bp.post("/<int:subscriber_id>/lift-not-me")
@login_required
def lift_not_me(subscriber_id: int) -> ResponseReturnValue:
    """Lift a "this wasn't me" block: confirmation emails may reach the mailbox again."""
    subscriber = _subscriber_or_404(subscriber_id)
    lifted = not_me.lift(get_session(), mailbox_key(subscriber.email))
    flash("Block lifted." if lifted else "There was no block.")
    return redirect(url_for(".detail", subscriber_id=subscriber_id), code=303)


@bp.post("/<int:subscriber_id>/resend")
@login_required
def resend(subscriber_id: int) -> ResponseReturnValue:
    """Send the confirmation email again, unless one went out lately."""
    sent = readers.resend_confirmation(get_session(), _subscriber_or_404(subscriber_id),
                                           actor())
    flash("Confirmation email queued." if sent else
          "No email sent: nothing is pending, or one was sent lately.")
    return redirect(url_for(".detail", subscriber_id=subscriber_id))


@bp.post("/<int:subscriber_id>/unsubscribe/<int:newsletter_id>")
@login_required
def unsubscribe(subscriber_id: int, newsletter_id: int) -> ResponseReturnValue:
    """Unsubscribe the reader from one newsletter."""
    session = get_session()
    subscription = readers.find_subscription(session, _subscriber_or_404(subscriber_id),
                                                 newsletter_id)
    if subscription is None:
        abort(404)
    changed = readers.unsubscribe(session, subscription, actor())
    flash("Unsubscribed." if changed else "Was unsubscribed already.")
    return redirect(url_for(".detail", subscriber_id=subscriber_id))


@bp.post("/<int:subscriber_id>/erase")
@login_required
def erase(subscriber_id: int) -> ResponseReturnValue:
    """Erase everything about the reader (GDPR art. 17)."""
    privacy.erase(get_session(), _subscriber_or_404(subscriber_id))
    flash("Erased. Only anonymous counts remain.")
    return redirect(url_for(".search"))


@bp.get("/<int:subscriber_id>/data.json")
@login_required
def personal_data(subscriber_id: int) -> Response:
    """Download everything held about the reader (GDPR art. 15 and 20)."""
    data = privacy.personal_data(get_session(), _subscriber_or_404(subscriber_id))
    return Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="subscriber-{subscriber_id}.json"'})


def _subscriber_or_404(subscriber_id: int) -> Subscriber:
    subscriber = readers.get_subscriber(get_session(), subscriber_id)
    if subscriber is None:
        abort(404, description="There is no such reader (any more).")
    return subscriber


def _status(value: str) -> SubscriptionStatus | None:
    try:
        return SubscriptionStatus(value)
    except ValueError:
        return None
