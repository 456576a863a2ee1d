"""debug: report a message or a variable's value in the task result."""

from __future__ import annotations

import json
from typing import Any

from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext, Outcome
from paasops.automation.templating import render


class DebugModule(Module):
    name = "debug"
    args = {"msg": Arg("any"), "var": Arg("str")}

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if args["msg"] is None and args["var"] is None:
            raise ArgError("one of fields 'msg' and 'var' is required")

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        if args["var"] is not None:
            value = render("{{ " + args["var"] + " }}", ctx.variables)
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            return Outcome(msg=f"{args['var']} = {text}", data={args["var"]: value})
        msg = args["msg"]
        return Outcome(msg=msg if isinstance(msg, str) else json.dumps(msg, default=str))


MODULE = DebugModule()
