"""Engine and sessions: one engine per app, one session per request or CLI command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from flask import Flask, current_app, g
from sqlalchemy import CursorResult, Engine, Executable, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "newsletter_read_only"  # execution option: this transaction never writes


def begin_read_only(session: Session) -> None:
    """Begin the session's transaction as a read that takes no write lock (SQLite).

    Only a transaction not begun yet can be made one: call it before the first query.
    """
    if not session.in_transaction():
        session.connection(execution_options={READ_ONLY: True})


class Base(DeclarativeBase):
    """Declarative base of every model."""

    # Every model is mapped to a Table (SQLAlchemy types it as any FromClause): Core
    # inserts and the column defaults are then typed.
    __table__: ClassVar[Table]


def normalize_database_url(url: str) -> str:
    """Send plain ``postgresql://`` URLs to the psycopg 3 driver the package installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``."""
    url = normalize_database_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    """Make SQLite safe for several writers (SQLAlchemy's documented pysqlite recipe)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite would defer it to the first write).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY when
        # another writer committed in between, whatever the busy timeout; IMMEDIATE waits.
        # A long read (an export) says READ_ONLY: in WAL mode it then blocks no writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def commit_unique(session: Session, taken: Exception) -> None:
    """Commit; when a unique constraint refuses the rows, roll back and raise ``taken``."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise taken from None


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; return how many rows it matched."""
    # Session.execute is typed as returning Result; for DML it is a CursorResult.
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def insert_for(session: Session) -> Callable[..., Any]:
    """Return the dialect's ``insert`` (it spells ``ON CONFLICT``; both dialects speak it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


@contextmanager
def read_only_transaction(session: Session) -> Iterator[None]:
    """Run the block in a read-only transaction of its own, ended with the block.

    On SQLite the block then takes no write lock, and the use case that follows holds
    it only while it writes. Inside a transaction already begun, it changes nothing.
    """
    if session.in_transaction():
        yield
        return
    begin_read_only(session)
    try:
        yield
    finally:
        session.commit()  # nothing to write: it ends the read


def init_app(app: Flask) -> None:
    """Create the engine and session factory, and close the request's session at teardown."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """Return the session of the current app context, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
