"""fail: stop this host with a message (usually under a `when`)."""

from __future__ import annotations

from typing import Any

from paasops.automation.modules.base import Arg, Module, ModuleContext, Outcome


class FailModule(Module):
    name = "fail"
    args = {"msg": Arg("str", default="failed as requested")}

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        return Outcome(failed=True, msg=args["msg"])


MODULE = FailModule()
