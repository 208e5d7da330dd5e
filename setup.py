"""Build hook: put the top-level templates and migrations inside the package in the wheel.

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
# Top-level directory -> its name inside the package. Compiled translation catalogues
# (``translations/<lang>/LC_MESSAGES/*.mo``, once the languages work adds them and compiles
# them before this step) ride along the same way: a directory absent here is skipped.
BUNDLED = {"templates": "_templates", "migrations": "_migrations", "translations": "_translations"}
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


setup(cmdclass={"build_py": BuildWithResources})
