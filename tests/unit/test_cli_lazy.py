"""The lazy `paasops` group: its static table against the real commands, and what `--help` imports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from paasops.cli.commands import COMMANDS
from paasops.cli.lazy import LazyCommands, LazyGroup, load_command
from paasops.cli.main import app

# Libraries a command may only import when it runs (typer, rich and pydantic are typer's own).
HEAVY = {"httpx", "docker", "etcd3", "cryptography", "yaml", "jinja2", "paramiko", "fabric", "fastapi",
         "starlette", "uvicorn", "rethinkdb", "grpc", "icmplib", "argon2", "testinfra"}


def first_paragraph(help_text: str) -> str:
    """What typer lists for a command in its group's --help."""
    return inspect.cleandoc(help_text).split("\n\n")[0].strip()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_listed_command_exists_with_the_listed_help(name):
    entry = COMMANDS[name]
    command = load_command(name, entry)
    assert command.name == name
    assert entry.help == first_paragraph(entry.help), "the table holds the first paragraph only"
    assert first_paragraph(command.short_help or command.help or "") == entry.help


def test_every_command_of_the_modules_is_listed():
    for module in {e.module for e in COMMANDS.values() if not e.group}:
        group = typer.main.get_group(importlib.import_module(f"paasops.cli.commands.{module}").app)
        assert {n for n, e in COMMANDS.items() if e.module == module} == set(group.commands)
    groups = [e.module for e in COMMANDS.values() if e.group]
    assert len(groups) == len(set(groups)), "a group module is one command"


def test_lazy_commands_load_on_lookup_only():
    commands = LazyCommands(COMMANDS)
    assert list(commands) == list(COMMANDS) and len(commands) == len(COMMANDS)
    assert "deploy" in commands and "nosuch" not in commands
    assert commands.loaded == {}
    assert commands["ps"].name == "ps"
    assert list(commands.loaded) == ["ps"]
    assert commands.get("nosuch") is None


def test_help_lists_from_the_table_without_importing_a_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    group.main(["--help"], prog_name="paasops", standalone_mode=False)
    assert group.lazy_commands.loaded == {}
    shown = capsys.readouterr().out
    for name, entry in COMMANDS.items():
        assert f" {name} " in shown and entry.help.split()[-1] in shown


def test_a_typo_is_answered_with_the_closest_command():
    result = CliRunner().invoke(app, ["deplo"], prog_name="paasops")
    assert result.exit_code == 2
    assert "Did you mean 'deploy'?" in result.output


def test_building_every_command_imports_no_heavy_library():
    code = ("import sys\nfrom paasops.cli.commands import COMMANDS\nfrom paasops.cli.lazy import load_command\n"
            "for n, e in COMMANDS.items(): load_command(n, e)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert HEAVY.isdisjoint(done.stdout.split())
