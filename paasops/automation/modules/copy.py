"""copy: a file's content (from `src` beside the playbook, or inline `content`) at `dest`."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from paasops.automation.actions import Action, WriteFile
from paasops.automation.facts import file_stat
from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext, Outcome, PlanError
from paasops.automation.modules.file import attribute_actions


def plan_write(dest: str, content: bytes, mode: int | None, owner: str | None, group: str | None,
               facts: dict[str, Any]) -> list[Action]:
    """Pure: write when the content differs, then fix attributes (shared by copy and template)."""
    stat, current = facts.get("stat"), facts.get("content")
    if stat is not None and stat["type"] == "directory":
        raise PlanError(f"{dest} is a directory")
    if stat is not None and current == content:
        return attribute_actions(dest, stat, mode, owner, group)
    # A write replaces the file: keep its current mode/owner unless others are asked.
    keep = stat or {}
    write = WriteFile(dest, content, mode if mode is not None else keep.get("mode", 0o644),
                      owner or keep.get("owner"), group or keep.get("group"),
                      before=current if stat is not None else None)
    return [write]


def resolve_src(src: str, base: Path) -> Path:
    """`src` as given if absolute, else beside the playbook, else in the playbook's files/."""
    candidates = [Path(src)] if Path(src).is_absolute() else [base / src, base / "files" / src]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ArgError(f"field 'src': {src} not found (looked in {base} and {base / 'files'})")


class CopyModule(Module):
    name = "copy"
    args = {
        "src": Arg("str"),
        "content": Arg("any"),
        "dest": Arg("str", required=True),
        "mode": Arg("mode"),
        "owner": Arg("str"),
        "group": Arg("str"),
    }

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if (args["src"] is None) == (args["content"] is None):
            raise ArgError("exactly one of fields 'src' and 'content' is required")

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        stat = ctx.fact(file_stat(args["dest"]))
        return {"stat": stat, "content": ctx.read(args["dest"]) if stat and stat["type"] == "file" else None}

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        content = args["content"]
        if isinstance(content, (dict, list)):  # as Ansible does: structured content becomes JSON
            content = json.dumps(content, indent=2, sort_keys=True) + "\n"
        data = content if isinstance(content, bytes) else str(content).encode()
        return plan_write(args["dest"], data, args.get("mode"), args.get("owner"), args.get("group"), facts)

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        args = dict(args)
        if args["src"] is not None:
            path = resolve_src(args["src"], ctx.playbook_dir)
            args["content"] = path.read_bytes()
            if args["dest"].endswith("/"):
                args["dest"] = posixpath.join(args["dest"], path.name)
        return Outcome(actions=self.plan(args, self.gather(ctx, args)), data={"dest": args["dest"]})


MODULE = CopyModule()
