"""The command line imports a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

import click
from flask import Flask

from newsletter_service import cli


def _top_level_commands() -> dict[str, tuple[str, str]]:
    """Return every command the cli modules define outside a group, as ``cli.COMMANDS`` does."""
    defined: list[tuple[click.Command, str, str]] = []
    for module in {module for module, _ in cli.COMMANDS.values()} | {"errors"}:
        for attribute, value in vars(import_module(f"newsletter_service.cli.{module}")).items():
            if isinstance(value, click.Command):
                defined.append((value, module, attribute))
    nested = {id(command) for group, _, _ in defined if isinstance(group, click.Group)
              for command in group.commands.values()}
    return {str(command.name): (module, attribute) for command, module, attribute in defined
            if id(command) not in nested}


def test_the_lazy_table_names_every_command_where_it_is_defined() -> None:
    assert _top_level_commands() == dict(cli.COMMANDS)
    sending = import_module("newsletter_service.cli.sending")
    assert {command.name for command in sending.COMMANDS} <= set(cli.COMMANDS)


def test_every_command_is_listed_and_found(app: Flask) -> None:
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["--help"]).output
    for name in cli.COMMANDS:
        assert f"  {name} " in listing
        assert runner.invoke(args=[name, "--help"]).exit_code == 0


def test_starting_the_program_imports_no_command_module() -> None:
    code = ("import sys; import newsletter_service.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('newsletter_service.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert loaded.strip() == "['newsletter_service.cli', 'newsletter_service.resources']"
