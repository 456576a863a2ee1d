"""`paasops rebalance`: the replica moves that bring the cluster closest to what placement chooses today."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ...vocabulary import MAX_REBALANCE_MOVES as MAX_MOVES
from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

if TYPE_CHECKING:
    from ...results import RebalanceResult

app = typer.Typer()


def moves_view(result: RebalanceResult) -> Any:
    """The moves (app, replica, from, to, improvement; applied: what became of each), then the verdict."""
    from rich.console import Group
    from rich.markup import escape

    from ..formats import fmt_num
    from ..render import styled, table

    def status(m) -> Any:
        return styled("moved", "green") if m.done else styled(m.error or "not moved", "red")

    columns = ["APP", "REPLICA", "FROM", "TO", "IMPROVEMENT"] + (["RESULT"] if result.applied else [])
    rows = [[m.app, m.replica, m.from_host, m.to_host, f"+{fmt_num(m.improvement)}"]
            + ([status(m)] if result.applied else []) for m in result.moves]
    parts: list[Any] = [table(columns, rows)] if rows else []
    parts += [styled(f"skipped {app}: {why}", "yellow") for app, why in sorted(result.skipped.items())]
    parts.append(f"[bold]{escape(result.message)}[/]")
    return Group(*parts)


@app.command()
@report_errors
def rebalance(plan: bool = typer.Option(True, "--plan/--apply", help="Only show the moves (default), or make "
                                        "them (--apply, with --max-moves)."),
              max_moves: int = typer.Option(None, "--max-moves", "-n", metavar="N", min=1, max=MAX_MOVES,
                                            help=f"The most moves to show or make (1 to {MAX_MOVES}); needed "
                                                 "with --apply."),
              app_pattern: str = typer.Option(None, "--app", metavar="PATTERN", help="Only apps matching this "
                                              "shell-style pattern (as reconcile's --app)."),
              output: Output = OUTPUT, server: str = SERVER):
    """Move replicas where placement would put them today (e.g. after a host came back empty or joined).

    --plan lists the moves, best first, each with its improvement: the score placement gives the target minus
    the one it gives the replica's own host without it (65 CPU, 35 memory). A move is made only when it gains
    more than 1 point, so a plan carried out and planned again is empty. --apply makes at most --max-moves of
    them, one replica at a time: started on the target under the same index, ready (its health check), then
    its old copy removed, under the app's lock; it stops at the first that fails. A user moves only its own
    (and its team's) apps; an admin, every app."""
    from ...errors import PaasopsError, UserInputError

    if not plan and max_moves is None:
        raise UserInputError("--apply needs --max-moves N (the most moves to make)", where="--max-moves")
    console = err()
    with api_client(server) as api:
        result = api.rebalance(plan=plan, max_moves=max_moves, app=app_pattern,
                               on_progress=None if output == Output.json else
                               lambda event: console.print(event.get("line", ""), markup=False, soft_wrap=True))
    emit(result, output, moves_view)
    if not result.ok:
        raise PaasopsError(result.message, where="rebalance")
