"""How a command reports what a use case refused: the refusal's message, exit status 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click


@contextlib.contextmanager
def refusals_reported(*errors: type[Exception], message: str | None = None) -> Iterator[None]:
    """Turn ``errors`` raised inside into the command's error (``message``, or theirs)."""
    try:
        yield
    except errors as error:
        raise click.ClickException(message or str(error)) from None
