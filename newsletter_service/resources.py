"""Where the templates and migrations live: inside an installed wheel, or in the checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent


def resource_dir(name: str) -> Path:
    """Return the directory ``name`` (templates, migrations): the wheel's copy, else the checkout's.

    setup.py copies each top-level directory into the package as ``_<name>`` when it builds a
    wheel; a checkout (and an editable install of it) keeps them at the top level only.
    """
    bundled = PACKAGE_DIR / f"_{name}"
    return bundled if bundled.is_dir() else CHECKOUT_ROOT / name


def templates_dir() -> Path:
    """Return the directory of the pages' and emails' templates."""
    return resource_dir("templates")


def migrations_dir() -> Path:
    """Return the Alembic script directory."""
    return resource_dir("migrations")
