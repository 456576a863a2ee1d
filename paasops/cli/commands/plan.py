"""`paasops plan`: what losing, draining or adding hosts (or deploying an app) would do, without changing anything."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors

app = typer.Typer()
STRANDED = 3  # the exit code when something would not fit


def names(values: list[str] | None) -> list[str]:
    """Hosts from repeated flags, each possibly a comma-separated list."""
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


@app.command()
@report_errors
def plan(lose: list[str] = typer.Option(None, "--lose", metavar="HOST", help="A host lost with its replicas "
                                        "(they are placed again on the others). Repeatable, or HOST,HOST."),
         drain: list[str] = typer.Option(None, "--drain", metavar="HOST", help="A host drained: it takes nothing "
                                         "new and its replicas move, as `paasops hosts drain` would move them."),
         add: list[str] = typer.Option(None, "--add", metavar="HOST=CPUS:MEM", help="An empty host added, e.g. "
                                       "lab9=4:8g (MEM in MB, or with a unit: 512m, 8g). Repeatable."),
         app_yml: Path = typer.Option(None, "--app", metavar="APP.yml", help="Also place an app: where --count "
                                      "replicas of it would go once the moves are done (as `deploy --dry-run`)."),
         count: int = typer.Option(None, "--count", "-n", min=0, help="Replicas of --app (default: its count)."),
         explain: bool = typer.Option(True, "--explain/--no-explain", help="Show each host's score terms, or the "
                                      "filter that rejected it, per app (default: shown)."),
         hosts_shown: int = typer.Option(20, "--hosts", metavar="N", min=0, help="Hosts explained per app: every "
                                         "host a replica goes to or the scenario names, then the best others up to "
                                         "N rows (0: every host)."),
         output: Output = OUTPUT, server: str = SERVER):
    """Show where replicas would go if hosts were lost, drained or added; nothing is changed.

    Each replica on a lost or drained host is placed again on the others, app by app (as a drain does), each app
    seeing the replicas placed before it; with --app, its replicas are placed last. For each app it shows where
    each replica would go with the score terms of each host or the filter that rejected it, and what would not
    fit (which app, how many replicas, why). A user sees its own apps. Exit code 3 when a replica would not fit."""
    from ...placement.whatif import added_host
    from ...spec import load_app_spec
    from ..render_plan import plan_view

    hosts = [added_host(text) for text in add or []]
    spec = load_app_spec(app_yml, overrides={"count": count}) if app_yml else None
    if count is not None and spec is None:
        from ...errors import UserInputError

        raise UserInputError("--count needs --app APP.yml", where="--count")
    with api_client(server) as api:
        result = api.what_if(lose=names(lose), drain=names(drain),
                             add=[{"id": h.id, "cpus": h.total_cpu, "memory_mb": h.total_mem_mb} for h in hosts],
                             spec=spec.to_dict() if spec else None, count=count,
                             explain=hosts_shown or None)
    emit(result, output, lambda r: plan_view(r, explain))
    if not result.complete:
        raise typer.Exit(STRANDED)
