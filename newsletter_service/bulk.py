"""Batch writes through the database driver itself: imports and batches of confirmation emails.

Through SQLAlchemy's Core each value of each row went through its column type (times, enums):
40 % of an import's time. Here the values are what both drivers take as they are, and a time
is converted once, by the column type's own converter for the dialect. Statements are written
with SQLite's ``?``; on PostgreSQL they become psycopg's ``%s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy.orm import Session

from .models import UTCDateTime

# Rows of one multi-row INSERT: at most 9,000 values, within every driver's limit (SQLite's
# is 32,766 since 3.32, PostgreSQL's 65,535). An IN list holds a batch: 5,000.
ROWS_PER_STATEMENT = 1000


class BulkCursor:
    """The DB-API cursor of the session's transaction, with SQLite's ``?`` or psycopg's ``%s``.

    Its rows are the driver's tuples: SQLAlchemy's Row objects cost more than the rows.
    """

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        dialect = connection.dialect
        self.cursor = connection.connection.cursor()
        self._percent = dialect.paramstyle != "qmark"  # psycopg; SQLite's driver takes "?"
        self._time = UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or _as_is
        self._times: dict[datetime, Any] = {}

    def __enter__(self) -> BulkCursor:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.cursor.close()

    def time(self, value: datetime) -> Any:
        """Return a UTC time as the driver takes it (SQLite: text), converted once."""
        if (stored := self._times.get(value)) is None:
            stored = self._times[value] = self._time(value)
        return stored

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        """Run ``sql`` once per tuple of ``params`` (the driver's executemany)."""
        if params:
            self.cursor.executemany(self._placeholders(sql), params)

    def rows(self, sql: str, params: Iterable[Any]) -> Sequence[Any]:
        """Run ``sql`` once; return its rows."""
        self.cursor.execute(self._placeholders(sql), tuple(params))
        return self.cursor.fetchall()

    def insert(self, sql: str, params: list[tuple[Any, ...]]) -> list[Any]:
        """Run an ``INSERT ... VALUES {values} ... RETURNING`` for all ``params``; return its rows.

        Each tuple of ``params`` is one row of the VALUES list (a multi-row INSERT returns
        rows, where an executemany returns none), ROWS_PER_STATEMENT rows a statement.
        """
        returned: list[Any] = []
        for start in range(0, len(params), ROWS_PER_STATEMENT):
            chunk = params[start:start + ROWS_PER_STATEMENT]
            row = f"({marks(len(chunk[0]))})"
            returned += self.rows(sql.format(values=", ".join([row] * len(chunk))),
                                  chain.from_iterable(chunk))
        return returned

    def _placeholders(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._percent else sql


def marks(count: int) -> str:
    """Return ``count`` placeholders, comma-separated: ``?, ?, ?``."""
    return ", ".join("?" * count)


def _as_is(value: Any) -> Any:
    return value
