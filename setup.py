"""Build hook: put the templates and migrations in the wheel's package, compile its catalogues.

In a checkout they stay at the top level (the layout the contract names) and the package finds
them there; a built wheel carries copies as ``newsletter_service/_templates`` and
``_migrations``, which ``newsletter_service.resources`` prefers when present. Everything else
about the build is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE = "newsletter_service"
# Top-level directory -> its name inside the package; a directory absent here is skipped.
BUNDLED = {"templates": "_templates", "migrations": "_migrations"}
# The translation catalogues live in the package as .po sources; the wheel gets them compiled.
CATALOGUES = Path(PACKAGE) / "translations"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.po", "*.pot", ".*")


class BuildWithResources(build_py):
    """Run the normal build, then copy the top-level resource directories into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install runs from the checkout, which has them at the top level
        for source, target in BUNDLED.items():
            if (ROOT / source).is_dir():
                destination = Path(self.build_lib) / PACKAGE / target
                shutil.rmtree(destination, ignore_errors=True)
                shutil.copytree(ROOT / source, destination, ignore=IGNORED)
        compile_catalogues(ROOT / CATALOGUES, Path(self.build_lib) / CATALOGUES)


def compile_catalogues(source: Path, target: Path) -> None:
    """Compile each ``<lang>/LC_MESSAGES/*.po`` under ``source`` to a ``.mo`` under ``target``."""
    from babel.messages.mofile import write_mo  # a build requirement (pyproject.toml)
    from babel.messages.pofile import read_po

    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as file:
            catalog = read_po(file, locale=po.parts[-3])
        with mo.open("wb") as file:
            write_mo(file, catalog)  # fuzzy entries stay out, as with `pybabel compile`


setup(cmdclass={"build_py": BuildWithResources})
