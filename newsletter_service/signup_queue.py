"""Signups recorded in the request and carried out once the reader has the answer.

Whether an address is new, waiting for its confirmation or long subscribed changes what a
signup does (a confirmation email or none, a consent event, webhooks), and so how long it
takes. Done in the request, that time told anyone who asked who is subscribed. So the
request only stores what the reader sent (``record``: the same insert for every address)
and answers; the web process then carries the signup out (``process``) after the answer
has left. The worker carries out whatever is still waiting each time it looks for mail
(``process_waiting``): a request the web process could not finish (it died, the database
was away) is not lost, and the worker never sends mail for a signup still on its way.

Carrying a request out deletes its row in the transaction of the signup itself, so it
happens once: the second process finds the row gone (PostgreSQL: locked, then gone;
SQLite: every write transaction waits for the one before).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .addresses import normalize_address
from .consent import MAX_SOURCE, MAX_USER_AGENT, ConsentOrigin
from .models import Newsletter, SignupRequest, utcnow
from .outbox import DATABASE_DOWN
from .sources import clean_ip
from .subscriptions import Signup, subscribe

log = logging.getLogger(__name__)

# A request that failed this often waits for an operator (its error is in the log).
MAX_ATTEMPTS = 5


def record(session: Session, newsletters: list[Newsletter], signup: Signup,
           origin: ConsentOrigin) -> int:
    """Store a validated signup to be carried out after the answer; return its id."""
    request = SignupRequest(
        newsletter_ids=",".join(str(n.id) for n in newsletters), email=signup.address.email,
        name=signup.name, consent=signup.consent, ip=clean_ip(origin.ip),
        user_agent=(origin.user_agent or "")[:MAX_USER_AGENT] or None,
        source=(origin.source or "")[:MAX_SOURCE] or None, attempts=0, created_at=utcnow())
    session.add(request)
    session.commit()
    return request.id


def process(session: Session, request_id: int) -> bool:
    """Carry out one recorded signup, in one transaction; False if it was done already."""
    request = session.execute(
        delete(SignupRequest).where(SignupRequest.id == request_id)
        .returning(SignupRequest)).scalar_one_or_none()
    if request is None:
        session.rollback()
        return False
    ids = [int(i) for i in request.newsletter_ids.split(",")]
    newsletters = list(session.scalars(
        select(Newsletter).where(Newsletter.id.in_(ids), Newsletter.is_active)))
    newsletters.sort(key=lambda n: ids.index(n.id))  # the reader's order: the email's
    if not newsletters:  # deactivated since: nothing to sign up to
        session.commit()
        return True
    # Valid when recorded, and normalizing is idempotent (a property test holds it).
    signup = Signup(normalize_address(request.email), request.name, request.consent)
    subscribe(session, newsletters, signup,
              ConsentOrigin(request.ip, request.user_agent, request.source))  # commits
    return True


def process_waiting(session: Session, limit: int = 100) -> int:
    """Carry out the requests still waiting (the worker's part); return how many."""
    waiting = list(session.scalars(
        select(SignupRequest.id)
        .where(SignupRequest.attempts < MAX_ATTEMPTS)
        .order_by(SignupRequest.id).limit(limit)))
    session.rollback()
    done = 0
    for request_id in waiting:
        # Counted first, in a transaction of its own: a request that fails every time
        # stops being tried, rather than holding the worker up for ever.
        session.execute(update(SignupRequest).where(SignupRequest.id == request_id)
                        .values(attempts=SignupRequest.attempts + 1))
        session.commit()
        try:
            done += process(session, request_id)
        except DATABASE_DOWN:
            raise  # the worker's loop waits for the database and comes back
        except Exception:
            session.rollback()
            log.exception("signup request %s failed; it will be tried again", request_id)
    return done
