"""set_fact: define per-host variables for the following tasks."""

from __future__ import annotations

from typing import Any

from paasops.automation.modules.base import ArgError, Module, ModuleContext, Outcome


class SetFactModule(Module):
    name = "set_fact"
    any_args = True

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if not args:
            raise ArgError("set_fact needs at least one name: value")
        bad = [k for k in args if not str(k).isidentifier()]
        if bad:
            raise ArgError(f"field {bad[0]!r} is not a valid variable name")

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        return Outcome(set_facts=dict(args), data={"ansible_facts": dict(args)})


MODULE = SetFactModule()
