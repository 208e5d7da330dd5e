"""Signups recorded in the request and carried out once the reader has the answer.

Whether an address is new, waiting for its confirmation or long subscribed changes what a
signup does (a confirmation email or none, a consent event, webhooks), and so how long it
takes. Done in the request, that time told anyone who asked who is subscribed. So the
request only stores what the reader sent (``record``: the same insert for every address)
and answers. After the answer has left, the web process carries the signup out itself
(``process``) when it was the only one waiting: at once, for a few milliseconds (a dozen
statements). When others are waiting, the server is busy: the worker, which looks every
``WORKER_SIGNUP_POLL_SECONDS``, carries them out together (``process_waiting``: one
transaction, new readers written with one statement per table, signup_batches.py), for a
fraction of the work each. The worker also takes what a web process could not finish (it
died, the database was away): nothing is lost, and no mail goes out for a signup still on
its way.

Carrying a request out deletes its row in the transaction of the signup itself, so it
happens once: the second process finds the row gone (PostgreSQL: a batch skips the rows
another holds, a single request waits for them; SQLite: every write transaction waits for
the one before).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.orm import Session

from . import signup_batches
from .addresses import normalize_address
from .consent import ConsentOrigin
from .models import Newsletter, SignupRequest, utcnow
from .outbox import DATABASE_DOWN
from .signup_batches import QueuedSignup
from .sources import clean_ip
from .subscriptions import Signup

log = logging.getLogger(__name__)

# A request that failed this often waits for an operator (its error is in the log).
MAX_ATTEMPTS = 5
# Requests the worker carries out in one transaction at most.
BATCH_SIZE = 100


@dataclass(frozen=True)
class RecordedSignup:
    """A signup stored by its request: its id, and whether it was the only one waiting."""

    id: int
    alone: bool  # then the web process carries it out after the answer; else the worker


def record(session: Session, newsletters: list[Newsletter], signup: Signup,
           origin: ConsentOrigin) -> RecordedSignup:
    """Store a validated signup to be carried out after the answer."""
    # Core statements: the ORM's unit of work would cost the request more than the row.
    table = SignupRequest.__table__
    request_id = int(session.scalar(insert(table).returning(table.c.id).values(
        newsletter_ids=",".join(str(n.id) for n in newsletters), email=signup.address.email,
        name=signup.name, consent=signup.consent, ip=clean_ip(origin.ip),
        user_agent=origin.kept_user_agent, source=origin.kept_source, attempts=0,
        created_at=utcnow())))
    # Others waiting: the server is busy, and the worker carries them out together.
    other = session.scalar(select(table.c.id).where(
        table.c.id != request_id, table.c.attempts == 0).limit(1))
    session.commit()
    return RecordedSignup(request_id, alone=other is None)


def process(session: Session, request_id: int) -> bool:
    """Carry out one recorded signup, in one transaction; False if it was done already."""
    return _carry_out(session, SignupRequest.id == request_id) == 1


def process_batch(session: Session, limit: int = BATCH_SIZE) -> int:
    """Carry out up to ``limit`` waiting requests in one transaction; return how many."""
    waiting = (select(SignupRequest.id).where(SignupRequest.attempts < MAX_ATTEMPTS)
               .order_by(SignupRequest.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        # Another process carrying out a batch has its rows: take the others, do not wait.
        waiting = waiting.with_for_update(skip_locked=True)
    return _carry_out(session, SignupRequest.id.in_(waiting.scalar_subquery()))


def _carry_out(session: Session, which: ColumnElement[bool]) -> int:
    """Delete the requests ``which`` names and carry them out, in one transaction."""
    taken = sorted(session.scalars(delete(SignupRequest).where(which)
                                   .returning(SignupRequest)), key=lambda r: r.id)
    if not taken:
        session.rollback()
        return 0
    ids = {int(i) for request in taken for i in request.newsletter_ids.split(",")}
    active = {n.id: n for n in session.scalars(
        select(Newsletter).where(Newsletter.id.in_(ids), Newsletter.is_active))}
    signups = []
    for request in taken:
        # In the reader's order (the email's); a newsletter deactivated since is left out.
        newsletters = [active[int(i)] for i in request.newsletter_ids.split(",")
                       if int(i) in active]
        if newsletters:
            # Valid when recorded, and normalizing is idempotent (a property test holds it).
            signups.append(QueuedSignup(
                newsletters, Signup(normalize_address(request.email), request.name,
                                    request.consent),
                ConsentOrigin(request.ip, request.user_agent, request.source)))
    if signups:
        signup_batches.carry_out(session, signups)
    session.commit()
    return len(taken)


def process_waiting(session: Session, limit: int = BATCH_SIZE) -> int:
    """Carry out the requests still waiting (the worker's part); return how many.

    In one batch first; if the batch fails, one by one, each try counted: a request that
    fails every time then holds up neither the others nor the worker.
    """
    try:
        return process_batch(session, limit)
    except DATABASE_DOWN:
        raise  # the worker's loop waits for the database and comes back
    except Exception:
        session.rollback()
        log.exception("a batch of signup requests failed; trying them one by one")
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
