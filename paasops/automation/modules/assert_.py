"""assert: every expression in `that` is true, or the host fails with `fail_msg`."""

from __future__ import annotations

from typing import Any

from paasops.automation.modules.base import Arg, Module, ModuleContext, Outcome
from paasops.automation.templating import evaluate


class AssertModule(Module):
    name = "assert"
    args = {
        "that": Arg("any", required=True),
        "fail_msg": Arg("str"),
        "success_msg": Arg("str", default="all assertions passed"),
    }
    raw_args = frozenset({"that"})

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        conditions = args["that"] if isinstance(args["that"], list) else [args["that"]]
        for condition in conditions:
            if not evaluate(condition, ctx.variables):
                return Outcome(failed=True, msg=args["fail_msg"] or f"assertion failed: {condition}",
                               data={"assertion": condition})
        return Outcome(msg=args["success_msg"])


MODULE = AssertModule()
