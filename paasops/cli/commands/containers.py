"""`paasops ps`, `inspect`, `logs`, `start`, `stop`, `restart` and `rm`: containers on every engine."""

from __future__ import annotations

import json
import sys

import typer

from ...errors import PaasopsError
from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

app = typer.Typer()
FOREIGN = typer.Option(False, "--foreign", help="Also containers paasops did not start (admin only; to look at).")


@app.command()
@report_errors
def ps(all_: bool = typer.Option(False, "--all", "-a", help="Also stopped containers."),
       app_name: str = typer.Option(None, "--app", help="Only this app's replicas."),
       foreign: bool = FOREIGN, output: Output = OUTPUT, server: str = SERVER):
    """Containers on every engine (running ones unless --all)."""
    from .. import render

    with api_client(server) as api:
        emit(api.containers(all=all_, app=app_name, foreign=foreign), output, render.containers_table)


@app.command()
@report_errors
def inspect(container: str = typer.Argument(..., metavar="ID", help="Id, unique id prefix or name."),
            foreign: bool = FOREIGN, output: Output = OUTPUT, server: str = SERVER):
    """One container in detail (--output json adds the engine's full inspect)."""
    from .. import render

    with api_client(server) as api:
        emit(api.container(container, foreign=foreign), output, lambda c: render.kv_table(render.container_pairs(c)))


@app.command()
@report_errors
def logs(container: str = typer.Argument(..., metavar="ID"),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming new output."),
         tail: str = typer.Option("all", "--tail", help="Only the last N lines."),
         output: Output = OUTPUT, server: str = SERVER):
    """A container's stdout and stderr (-o json: one {"container", "text"} object per chunk)."""
    with api_client(server) as api:
        for chunk in api.logs(container, follow=follow, tail=tail):
            if output == Output.json:
                sys.stdout.write(json.dumps({"container": container, "text": chunk}) + "\n")
            else:
                sys.stdout.write(chunk)
            sys.stdout.flush()


def _action(name: str, done: str):
    def command(container: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT,
                server: str = SERVER):
        with api_client(server) as api:
            view = getattr(api, name)(container)
        from .. import render

        emit(view, output, lambda v: render.action_line(done, v))
    command.__doc__ = f"{name.capitalize()} a container (by id, unique id prefix or name)."
    app.command(name)(report_errors(command))


_action("start", "started")
_action("stop", "stopped")
_action("restart", "restarted")


@app.command()
@report_errors
def rm(containers: list[str] = typer.Argument(..., metavar="ID...", help="Ids, unique id prefixes or names."),
       output: Output = OUTPUT, server: str = SERVER):
    """Destroy containers (kill, then remove); every id is tried, failures are listed at the end."""
    from rich.markup import escape

    results, failures = [], []
    with api_client(server) as api:
        for container in containers:
            try:
                results.append(api.destroy(container))
            except PaasopsError as exc:
                failures.append(exc)
                err().print(f"[red]error[/]: {escape(str(exc))}")
    emit(results, output, lambda rows: "\n".join(f"removed {r.destroyed[:12]}" for r in rows))
    if failures:
        raise typer.Exit(failures[0].exit_code)
