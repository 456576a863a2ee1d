"""template: render a Jinja2 file from the project's templates/ and put it at `dest`."""

from __future__ import annotations

from typing import Any

from paasops.automation.actions import Action
from paasops.automation.modules.base import Arg, Module, ModuleContext, Outcome
from paasops.automation.modules.copy import MODULE as COPY
from paasops.automation.modules.copy import plan_write
from paasops.automation.templating import render_template_file


class TemplateModule(Module):
    name = "template"
    args = {
        "src": Arg("str", required=True),
        "dest": Arg("str", required=True),
        "mode": Arg("mode"),
        "owner": Arg("str"),
        "group": Arg("str"),
    }

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        """`args['content']` is the rendered text (execute renders it; tests pass it directly)."""
        return plan_write(args["dest"], args["content"].encode(), args.get("mode"), args.get("owner"),
                          args.get("group"), facts)

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        content = render_template_file(str(ctx.templates_dir), args["src"], ctx.variables)
        facts = COPY.gather(ctx, args)
        return Outcome(actions=self.plan({**args, "content": content}, facts), data={"dest": args["dest"]})


MODULE = TemplateModule()
