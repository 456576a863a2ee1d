"""Rendering of `paasops plan` (a what-if) and of the report's headroom: rich tables, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.markup import escape

from .formats import fmt_mb, fmt_num
from .render import explanation_table, styled, table

if TYPE_CHECKING:
    from ..results import Headroom, ResourceHeadroom, WhatIfApp, WhatIfPlan


def scenario_line(plan: WhatIfPlan) -> str:
    parts = [f"{word} {', '.join(hosts)}" for word, hosts in (("losing", plan.lose), ("draining", plan.drain),
                                                             ("adding", plan.add)) if hosts]
    return "what if: " + ("; ".join(parts) or "no host changes")


def moves_table(a: WhatIfApp) -> Any:
    title = (f"{a.app}: {a.count} replica(s) {'moved' if a.kind == 'moved' else 'new'}, {a.placed} placed"
             + (f", {a.stranded} would not fit" if a.stranded else "") + (f" ({a.strategy})" if a.strategy else ""))
    rows = [[m.replica + 1, m.from_host or "(new)", m.host, fmt_num(m.score), fmt_num(m.cpu), fmt_num(m.memory)]
            for m in a.moves]
    rows += [[n + 1, "", styled("would not fit", "red"), "", "", ""] for n in range(a.placed, a.count)]
    columns = ["REPLICA", "FROM", "TO", "SCORE", "CPU TERM", "MEMORY TERM"]
    return Group(f"[bold]{escape(title)}[/]", table(columns, rows))


def plan_view(plan: WhatIfPlan, explain: bool = True) -> Group:
    """Per app: where each replica would go, why not (if it would not fit), then each host's terms."""
    parts: list[Any] = [f"[bold]{escape(scenario_line(plan))}[/]", ""]
    for a in plan.apps:
        parts.append(moves_table(a))
        if a.why:
            parts.append(styled(f"  why: {a.why}", "red"))
        if explain and a.explanation:
            parts.append(explanation_table(a.explanation))
            if a.hosts > len(a.explanation):
                parts.append(f"  ({len(a.explanation)} of {a.hosts} hosts shown: --hosts 0 shows all)")
        parts.append("")
    parts.append(styled(plan.message, "green" if plan.complete else "red"))
    return Group(*parts)


def _resource_line(r: ResourceHeadroom) -> str:
    def fmt(v: float) -> str:
        return f"{v:g} CPUs" if r.resource == "cpu" else fmt_mb(int(v))

    line = f"{r.resource}: {fmt(r.free)} free of {fmt(r.total)}"
    if r.worst_host:
        line += (f"; losing {r.worst_host} (the worst) leaves {fmt(r.spare_after_worst)} spare" if r.survives else
                 f"; losing {r.worst_host} leaves {fmt(-r.spare_after_worst)} short")
    return line


def headroom_parts(room: Headroom | None) -> list[Any]:
    """The report's headroom: more replicas per app, then N-1 (which host's loss strands what), CPU and memory."""
    if room is None:
        return []
    apps = table(["APP", "MORE REPLICAS FIT", "ON HOSTS", "LIMIT"],
                 [[a.app, "no limit" if a.more is None else a.more, a.hosts, a.limit or ""] for a in room.apps],
                 "headroom: more replicas that fit now")
    losses = [x for x in room.losses if not x.survives]
    verdict = ("[green]N-1: the loss of any one host strands no replica[/]" if room.survives else
               "[red]N-1: not survivable[/]")
    parts: list[Any] = [apps, "", verdict]
    if losses:
        parts.append(table(["HOST LOST", "REPLICAS ON IT", "STRANDED", "WHY"],
                           [[x.host, x.replicas, ", ".join(f"{k} ({v})" for k, v in x.stranded.items()),
                             "; ".join(x.why.values())] for x in losses]))
    parts += [escape(_resource_line(room.cpu)), escape(_resource_line(room.memory)), ""]
    return parts
