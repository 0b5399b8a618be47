"""The README documents every CLI command and every setting (datasette's test_docs habit)."""

from __future__ import annotations

import pytest
import typer

from nlpipe.cli.main import app
from nlpipe.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _commands(group, prefix: str = "nlpipe") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if hasattr(cmd, "commands"):  # a group
            out += _commands(cmd, full)
        else:
            out.append(full)
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_docs_commands_are_found():
    assert "nlpipe datasets import" in COMMANDS and "nlpipe train" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_every_command_in_readme(command):
    assert f"`{command}" in README, f"README's CLI reference lacks {command}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_docs_every_setting_in_readme(field):
    assert f"`NLPIPE_{field.upper()}`" in README


def test_docs_every_command_has_help():
    group = typer.main.get_command(app)
    for name in COMMANDS:
        parts = name.split()[1:]
        cmd = group
        for p in parts:
            cmd = cmd.commands[p]  # type: ignore[attr-defined]
        assert cmd.help, f"{name} has no help text"
