"""file: a path is a file, a directory, absent, or touched; with mode/owner/group."""

from __future__ import annotations

import shlex
from typing import Any

from paasops.automation.actions import Action, Command
from paasops.automation.facts import file_stat
from paasops.automation.modules.base import Arg, Module, ModuleContext, PlanError


def attribute_actions(path: str, stat: dict[str, Any] | None, mode: int | None,
                      owner: str | None, group: str | None) -> list[Action]:
    """chmod/chown for what differs from `stat` (None stat = just created: set what is asked)."""
    actions: list[Action] = []
    q = shlex.quote(path)
    if mode is not None and (stat is None or stat["mode"] != mode):
        before = f"{stat['mode']:04o}" if stat else "-"
        actions.append(Command(f"chmod {mode:04o} {q}", change=(f"mode {before}", f"mode {mode:04o}")))
    want_owner = owner if owner and (stat is None or stat["owner"] != owner) else None
    want_group = group if group and (stat is None or stat["group"] != group) else None
    if want_owner or want_group:
        spec = (want_owner or "") + (f":{want_group}" if want_group else "")
        before = f"{stat['owner']}:{stat['group']}" if stat else "-"
        after = f"{owner or (stat or {}).get('owner', '')}:{group or (stat or {}).get('group', '')}"
        actions.append(Command(f"chown {shlex.quote(spec)} {q}", change=(f"owner {before}", f"owner {after}")))
    return actions


class FileModule(Module):
    name = "file"
    args = {
        "path": Arg("str", required=True),
        "state": Arg("str", choices=("file", "directory", "absent", "touch"), default="file"),
        "mode": Arg("mode"),
        "owner": Arg("str"),
        "group": Arg("str"),
    }

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"stat": ctx.fact(file_stat(args["path"]))}

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        path, state, stat = args["path"], args["state"], facts.get("stat")
        q = shlex.quote(path)
        current = stat["type"] if stat else "absent"
        attrs = (args.get("mode"), args.get("owner"), args.get("group"))
        if state == "absent":
            return [Command(f"rm -rf -- {q}", change=(f"{path}: {current}", f"{path}: absent"))] if stat else []
        if state == "directory":
            if stat is None:
                return [Command(f"mkdir -p -- {q}", change=(f"{path}: absent", f"{path}: directory")),
                        *attribute_actions(path, None, *attrs)]
            if current != "directory":
                raise PlanError(f"{path} exists and is a {current}, not a directory")
            return attribute_actions(path, stat, *attrs)
        if stat is None:
            if state == "file":
                raise PlanError(f"{path} does not exist (use state: touch to create it)")
            return [Command(f"touch -- {q}", change=(f"{path}: absent", f"{path}: file")),
                    *attribute_actions(path, None, *attrs)]
        if current == "directory":
            raise PlanError(f"{path} is a directory, not a file")
        return attribute_actions(path, stat, *attrs)


MODULE = FileModule()
