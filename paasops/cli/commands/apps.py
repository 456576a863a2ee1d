"""`paasops deploy`, `scale`, `rollback`, `apps`, `apps history` and `apps rm`: an app's replicas across the engines."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

app = typer.Typer()


@app.command()
@report_errors
def deploy(app_yml: Path = typer.Argument(..., help="The app's app.yml."),
           count: int = typer.Option(None, "--count", "-n", min=0, help="Replicas (default: the file's count)."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and why; start nothing."),
           output: Output = OUTPUT, server: str = SERVER):
    """Place and start an app's replicas across the engines (a changed spec replaces the old replicas)."""
    from ...spec import load_app_spec
    from .. import render

    spec = load_app_spec(app_yml, overrides={"count": count})
    with api_client(server) as api:
        if dry_run:
            return emit(api.plan(spec.to_dict(), count), output, render.plan_view)
        if output == Output.json:
            result = api.deploy(spec.to_dict(), count)
        else:
            with render.DeployProgress(err()) as progress:
                result = api.deploy(spec.to_dict(), count, on_progress=progress)
    emit(result, output, render.result_view)
    render.check_result(result)


@app.command()
@report_errors
def scale(app_name: str = typer.Argument(..., metavar="APP"), count: int = typer.Argument(..., min=0),
          output: Output = OUTPUT, server: str = SERVER):
    """Run COUNT identical replicas of APP (scaling down takes from the most loaded hosts first)."""
    from .. import render

    with api_client(server) as api:
        result = api.scale_app(app_name, count)
    emit(result, output, render.result_view)
    render.check_result(result)


@app.command()
@report_errors
def rollback(app_name: str = typer.Argument(..., metavar="APP"),
             to: str = typer.Option(None, "--to", metavar="RELEASE",
                                    help="The release to go back to: its id or a unique prefix (see `apps history`)."),
             output: Output = OUTPUT, server: str = SERVER):
    """Deploy an earlier release of APP again (default: the one before the current), through a normal deploy."""
    from .. import render

    with api_client(server) as api:
        if output == Output.json:
            result = api.rollback(app_name, to)
        else:
            with render.DeployProgress(err()) as progress:
                result = api.rollback(app_name, to, on_progress=progress)
    emit(result, output, render.result_view)
    render.check_result(result)


apps_group = typer.Typer()
app.add_typer(apps_group, name="apps")


@apps_group.callback(invoke_without_command=True)
@report_errors
def apps_(ctx: typer.Context, output: Output = OUTPUT, server: str = SERVER):
    """Deployed apps: desired versus running replicas."""
    from .. import render

    if ctx.invoked_subcommand is not None:
        return
    with api_client(server) as api:
        emit(api.apps(), output, render.apps_table)


@apps_group.command("inspect")
@report_errors
def apps_inspect(app_name: str = typer.Argument(..., metavar="APP"), output: Output = OUTPUT, server: str = SERVER):
    """APP in detail: its release, replicas, health check and URLs (app.yml `expose`)."""
    from .. import render

    with api_client(server) as api:
        emit(api.app(app_name), output, lambda a: render.kv_table(render.app_pairs(a)))


@apps_group.command("history")
@report_errors
def apps_history(app_name: str = typer.Argument(..., metavar="APP"), output: Output = OUTPUT,
                 server: str = SERVER):
    """APP's releases, newest first: release, spec hash, who, when, replicas, outcome."""
    from .. import render

    with api_client(server) as api:
        emit(api.app_history(app_name), output, render.history_table)


@apps_group.command("rm")
@report_errors
def apps_rm(app_name: str = typer.Argument(..., metavar="APP"), output: Output = OUTPUT, server: str = SERVER):
    """Delete APP: destroy all its replicas and remove its record."""
    from .. import render

    with api_client(server) as api:
        result = api.delete_app(app_name)
    emit(result, output, render.app_deleted)
