"""A typer group whose commands are imported only when one runs or its --help is asked (`paasops --help` stays fast)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from .commands import COMMANDS, Entry

PACKAGE = "paasops.cli.commands"


def load_command(name: str, entry: Entry) -> Any:
    """The real click command `name`, built from its module's typer app (imports the module)."""
    module = importlib.import_module(f"{PACKAGE}.{entry.module}")
    group = typer.main.get_group(module.app)
    if entry.group:
        group.name = name
        return group
    return group.commands[name]


class LazyCommands(MutableMapping[str, Any]):
    """name -> command, listed from the static table; a command is built the first time it is looked up."""

    def __init__(self, table: dict[str, Entry]):
        self.table = table
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in self.table:
                raise KeyError(name)
            self.loaded[name] = load_command(name, self.table[name])
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.table), **dict.fromkeys(self.loaded)})

    def __len__(self) -> int:
        return len(set(self.table) | set(self.loaded))

    def __contains__(self, name: object) -> bool:
        return name in self.table or name in self.loaded


class LazyGroup(TyperGroup):
    """The `paasops` group: commands from COMMANDS, imported on use; its own --help lists their table lines."""

    table: dict[str, Entry] = COMMANDS

    def __init__(self, **attrs: Any):
        super().__init__(**attrs)
        self.lazy_commands = LazyCommands(self.table)
        self.commands = self.lazy_commands  # typer's own lookups (suggestions for a typo) go through it too
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in self.table and cmd_name not in self.lazy_commands.loaded:
            # Listing for --help: a stand-in with the table's line, the module stays unimported.
            return TyperCommand(name=cmd_name, help=self.table[cmd_name].help)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False
