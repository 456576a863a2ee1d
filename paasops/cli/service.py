"""`paasops serve` and the commands that drive the service over its HTTP API (deploy, ps, logs, hosts, events …)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import PaasopsError, UserInputError
from . import render
from .errors import report_errors
from .main import app

if TYPE_CHECKING:
    from ..client import ApiClient
    from ..results import EventView

# Not on a terminal (a pipe, a test), tables are not squeezed into 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 240)
err = Console(stderr=True, highlight=False)
hosts_app = typer.Typer(help="Docker engines the service places on: list, add by hand, inspect, remove.",
                        no_args_is_help=True)
cluster_app = typer.Typer(help="The cluster as a whole.", no_args_is_help=True)
app.add_typer(hosts_app, name="hosts")
app.add_typer(cluster_app, name="cluster")


FOLLOW_LOOKBACK = 30.0  # seconds `events --follow` looks back for events stored late


class Output(str, Enum):
    table = "table"
    json = "json"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


OUTPUT = typer.Option(Output.table, "--output", "-o", help="table for people, json (the API's answer) for scripts.")
SERVER = typer.Option(None, "--server", metavar="URL", help="The service's API (default: $PAASOPS_SERVER, "
                      "`server` in the config file, else http://127.0.0.1:5002).")


# -- output ------------------------------------------------------------------------------------
def emit(data: Any, output: Output, human: Callable[[Any], Any]) -> None:
    """JSON exactly as the API answered, or the human rendering of it."""
    if output == Output.json:
        from pydantic_core import to_jsonable_python  # the result models back to the API's JSON

        typer.echo(json.dumps(to_jsonable_python(data, fallback=str), indent=2, default=str))
    else:
        out.print(human(data))


def _client(server: str | None) -> "ApiClient":
    from ..client import ApiClient  # imported on use: the other commands start faster without httpx

    return ApiClient(server)


# -- the service -------------------------------------------------------------------------------
def serve_settings(**flags: Any):
    """ServiceSettings from the flags given (absent flags leave the PAASOPS_* environment and defaults)."""
    from pydantic import ValidationError

    from ..service.settings import ServiceSettings

    weights = flags.pop("weights", None)
    if weights:
        flags["weight_cpu"], flags["weight_memory"] = render.parse_weights(weights)
    given = {k: v for k, v in flags.items() if v not in (None, [])}
    try:
        return ServiceSettings(**given)
    except ValidationError as exc:
        raise UserInputError("; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
                                       for e in exc.errors()), where="serve") from None


def check_listen(host: str, tls_cert: Path | None, tls_key: Path | None, insecure_http: bool) -> None:
    """Plain HTTP only on loopback: elsewhere tokens would cross the network in clear."""
    if tls_key is not None and tls_cert is None:
        raise UserInputError("a key without a certificate: give --tls-cert too", where="--tls-key")
    if tls_cert is None and not render.is_loopback(host) and not insecure_http:
        raise UserInputError(
            f"refusing to serve plain HTTP on {host}: API tokens would cross the network in clear. Give "
            "--tls-cert/--tls-key (a certificate from the cluster CA, or your own), or --insecure-http if "
            "this network is trusted", where="--host")


@app.command()
@report_errors
def serve(host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
          port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default 5002)."),
          state: str = typer.Option(None, "--state", help="State store URL (default sqlite:/// in the user "
                                    "data dir; rethinkdb://host:port/db)."),
          etcd: list[str] = typer.Option(None, "--etcd", help="etcd client URL (repeatable); without it "
                                         "engines come from the store."),
          pki_dir: Path = typer.Option(None, "--pki-dir", help="Cluster CA and client certificate."),
          local_engine: bool = typer.Option(None, "--local-engine/--no-local-engine",
                                            help="Add this machine's Docker engine as engine 'local'."),
          heartbeat_interval: float = typer.Option(None, "--heartbeat-interval", help="Seconds between "
                                                   "heartbeats (default 1)."),
          down_after: int = typer.Option(None, "--down-after", help="Missed heartbeats before a host is down."),
          up_after: int = typer.Option(None, "--up-after", help="Answers before a down host is up again."),
          weights: str = typer.Option(None, "--weights", metavar="CPU,MEM", help="Score weights (default 65,35)."),
          tls_cert: Path = typer.Option(None, "--tls-cert", help="Serve HTTPS with this certificate."),
          tls_key: Path = typer.Option(None, "--tls-key", help="The certificate's private key."),
          insecure_http: bool = typer.Option(False, "--insecure-http", help="Allow plain HTTP on a "
                                             "non-loopback address."),
          log_level: LogLevel = typer.Option(LogLevel.info, "--log-level")):
    """Run the scheduler/monitor service and its HTTP API (logs go to stderr)."""
    settings = serve_settings(host=host, port=port, state=state, etcd=etcd, pki_dir=pki_dir,
                              local_engine=local_engine, heartbeat_interval=heartbeat_interval,
                              down_after=down_after, up_after=up_after, weights=weights, tls_cert=tls_cert,
                              tls_key=tls_key)
    check_listen(settings.host, settings.tls_cert, settings.tls_key, insecure_http)
    logging.basicConfig(stream=sys.stderr, level=log_level.value.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    from ..api.app import create_app
    from ..service.service import Service

    service = Service(settings)
    try:
        service.start()
        config = uvicorn.Config(create_app(service), host=settings.host, port=settings.port,
                                log_level=log_level.value, log_config=None,
                                ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                                ssl_keyfile=str(settings.tls_key) if settings.tls_key else None)
        uvicorn.Server(config).run()
    finally:
        service.stop()


# -- deploy and apps ---------------------------------------------------------------------------
@app.command()
@report_errors
def deploy(app_yml: Path = typer.Argument(..., help="The app's app.yml."),
           count: int = typer.Option(None, "--count", "-n", min=0, help="Replicas (default: the file's count)."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and why; start nothing."),
           output: Output = OUTPUT, server: str = SERVER):
    """Place and start an app's replicas across the engines (a changed spec replaces the old replicas)."""
    from ..spec import load_app_spec

    spec = load_app_spec(app_yml, overrides={"count": count})
    with _client(server) as api:
        if dry_run:
            return emit(api.plan(spec.to_dict(), count), output, render.plan_view)
        if output == Output.json:
            result = api.deploy(spec.to_dict(), count)
        else:
            with render.DeployProgress(err) as progress:
                result = api.deploy(spec.to_dict(), count, on_progress=progress)
    emit(result, output, render.result_view)
    render.check_result(result)


@app.command()
@report_errors
def scale(app_name: str = typer.Argument(..., metavar="APP"), count: int = typer.Argument(..., min=0),
          output: Output = OUTPUT, server: str = SERVER):
    """Run COUNT identical replicas of APP (scaling down takes from the most loaded hosts first)."""
    with _client(server) as api:
        result = api.scale_app(app_name, count)
    emit(result, output, render.result_view)
    render.check_result(result)


@app.command("apps")
@report_errors
def apps_(output: Output = OUTPUT, server: str = SERVER):
    """Deployed apps: desired versus running replicas."""
    with _client(server) as api:
        emit(api.apps(), output, render.apps_table)


# -- containers --------------------------------------------------------------------------------
@app.command()
@report_errors
def ps(all_: bool = typer.Option(False, "--all", "-a", help="Also stopped containers."),
       app_name: str = typer.Option(None, "--app", help="Only this app's replicas."),
       output: Output = OUTPUT, server: str = SERVER):
    """Containers on every engine (running ones unless --all)."""
    with _client(server) as api:
        emit(api.containers(all=all_, app=app_name), output, render.containers_table)


@app.command()
@report_errors
def inspect(container: str = typer.Argument(..., metavar="ID", help="Id, unique id prefix or name."),
            output: Output = OUTPUT, server: str = SERVER):
    """One container in detail (--output json adds the engine's full inspect)."""
    with _client(server) as api:
        emit(api.container(container), output, lambda c: render.kv_table(render.container_pairs(c)))


@app.command()
@report_errors
def logs(container: str = typer.Argument(..., metavar="ID"),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming new output."),
         tail: str = typer.Option("all", "--tail", help="Only the last N lines."),
         output: Output = OUTPUT, server: str = SERVER):
    """A container's stdout and stderr (-o json: one {"container", "text"} object per chunk)."""
    with _client(server) as api:
        for chunk in api.logs(container, follow=follow, tail=tail):
            if output == Output.json:
                sys.stdout.write(json.dumps({"container": container, "text": chunk}) + "\n")
            else:
                sys.stdout.write(chunk)
            sys.stdout.flush()


def _action(name: str, done: str):
    def command(container: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT,
                server: str = SERVER):
        with _client(server) as api:
            view = getattr(api, name)(container)
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
    results, failures = [], []
    with _client(server) as api:
        for container in containers:
            try:
                results.append(api.destroy(container))
            except PaasopsError as exc:
                failures.append(exc)
                err.print(f"[red]error[/]: {escape(str(exc))}")
    emit(results, output, lambda rows: "\n".join(f"removed {r.destroyed[:12]}" for r in rows))
    if failures:
        raise typer.Exit(failures[0].exit_code)


# -- hosts and cluster -------------------------------------------------------------------------
@hosts_app.command("list")
@report_errors
def hosts_list(output: Output = OUTPUT, server: str = SERVER):
    """Engines with their status, capacity and reservations."""
    with _client(server) as api:
        emit(api.engines(), output, render.engines_table)


@hosts_app.command("add")
@report_errors
def hosts_add(address: str = typer.Argument(..., help="IP or name of a Docker host (TLS on --port), or 'local'."),
              engine_id: str = typer.Option(None, "--id", help="Engine id (default: the address)."),
              port: int = typer.Option(2376, "--port", min=1, max=65535),
              label: list[str] = typer.Option(None, "--label", help="KEY=VALUE for constraints (repeatable)."),
              cpus: float = typer.Option(None, "--cpus", help="Declared CPUs (default: what Docker reports)."),
              memory_mb: int = typer.Option(None, "--memory-mb", help="Declared memory (default: Docker's)."),
              output: Output = OUTPUT, server: str = SERVER):
    """Add an engine by hand; it must answer over its TLS API first, else nothing changes."""
    labels = render.parse_labels(label)
    with _client(server) as api:
        added = api.add_engine(address, id=engine_id, port=port, labels=labels, cpus=cpus, memory_mb=memory_mb)
    emit(added, output, lambda h: render.engines_table([h]))


@hosts_app.command("rm")
@report_errors
def hosts_rm(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Remove an engine (its containers keep running; nothing new is placed there)."""
    with _client(server) as api:
        emit(api.delete_engine(engine_id), output, lambda r: f"removed engine {r.deleted}")


@hosts_app.command("inspect")
@report_errors
def hosts_inspect(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT,
                  server: str = SERVER):
    """One engine in detail."""
    with _client(server) as api:
        emit(api.engine(engine_id), output, lambda h: render.kv_table(render.engine_pairs(h)))


@cluster_app.command("info")
@report_errors
def cluster_info(output: Output = OUTPUT, server: str = SERVER):
    """Total and reserved CPU and memory, containers, images and engines, and the same per host."""
    with _client(server) as api:
        emit(api.cluster_info(), output, render.cluster_view)


# -- events ------------------------------------------------------------------------------------
@app.command()
@report_errors
def events(type_: str = typer.Option(None, "--type", help="e.g. run-container, host-down, die."),
           tag: str = typer.Option(None, "--tag", help="api, docker or health."),
           app_name: str = typer.Option(None, "--app"), host: str = typer.Option(None, "--host"),
           since: str = typer.Option(None, "--since", help="10m, 2h, 1d ago, an epoch time or an ISO date."),
           limit: int = typer.Option(100, "--limit", min=1, max=10000),
           follow: bool = typer.Option(False, "--follow", "-f", help="Then print new events as they come."),
           output: Output = OUTPUT, server: str = SERVER):
    """What happened, newest first: API operations, Docker events, host health."""
    filters = dict(type=type_, tag=tag, app=app_name, host=host)
    start = render.parse_since(since, time.time())
    with _client(server) as api:
        found = api.events(**filters, since=start, limit=limit)
        if not follow:
            return emit(found, output, render.events_table)
        _follow(api, filters, found, start, output)


def _follow(api: "ApiClient", filters: dict, found: list[EventView], since: float | None, output: Output) -> None:
    """Print events oldest first, then poll every second for newer ones."""
    seen: set[str] = set()
    last = max((e.time for e in found), default=since or time.time())
    while True:
        for event in reversed(found):
            if event.id in seen:
                continue
            seen.add(event.id)
            typer.echo(json.dumps(event.model_dump()) if output == Output.json else render.event_line(event))
            last = max(last, event.time)
        sys.stdout.flush()
        time.sleep(1.0)
        # Docker events keep the engine's time and reach the store a little later than our own
        # events: look back a while, and let the ids already printed keep them from repeating.
        horizon = last - FOLLOW_LOOKBACK
        bound = f"{int(horizon * 1e9):019d}"  # event ids start with their time in ns
        seen = {i for i in seen if i[:19] >= bound}
        found = api.events(**filters, since=horizon, limit=10000)
