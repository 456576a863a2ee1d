"""command and shell: run a command unless `creates` exists (or `removes` does not)."""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from paasops.automation.actions import Action, Command
from paasops.automation.facts import path_exists
from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext


class CommandModule(Module):
    """`command` runs argv without shell features; `shell` hands the line to /bin/sh."""

    name = "command"
    free_form = "cmd"
    shell = False
    args = {
        "cmd": Arg("str"),
        "argv": Arg("list"),
        "creates": Arg("str"),
        "removes": Arg("str"),
        "chdir": Arg("str"),
        "timeout": Arg("float"),
    }

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if args["cmd"] is None and (self.shell or args["argv"] is None):
            raise ArgError("missing required field 'cmd'")

    def command_line(self, args: dict[str, Any]) -> str:
        if args.get("argv"):
            line = " ".join(shlex.quote(a) for a in args["argv"])
        elif self.shell:
            line = args["cmd"]
        else:
            # No shell features, as in Ansible: `$HOME` and `;` are passed through literally.
            line = " ".join(shlex.quote(a) for a in shlex.split(args["cmd"]))
        if args.get("chdir"):
            line = f"cd {shlex.quote(args['chdir'])} && {line}"
        return line

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        facts = {}
        for key in ("creates", "removes"):
            if args.get(key):
                path = posixpath.join(args.get("chdir") or "/", args[key])  # relative to chdir
                facts[f"{key}_exists"] = ctx.fact(path_exists(path))
        return facts

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        if args.get("creates") and facts.get("creates_exists"):
            return []
        if args.get("removes") and not facts.get("removes_exists"):
            return []
        return [Command(self.command_line(args), timeout=args.get("timeout"))]


class ShellModule(CommandModule):
    name = "shell"
    shell = True
    args = {k: v for k, v in CommandModule.args.items() if k != "argv"}


COMMAND = CommandModule()
SHELL = ShellModule()
