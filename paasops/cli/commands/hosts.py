"""`paasops hosts list|add|rm|inspect|drain|cordon|undrain`: the Docker engines the service places on."""

from __future__ import annotations

import typer

from ...errors import PaasopsError
from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

app = typer.Typer(help="Docker engines the service places on: list, add by hand, inspect, remove, drain, cordon, "
                       "undrain.",
                  no_args_is_help=True)


@app.command("list")
@report_errors
def hosts_list(output: Output = OUTPUT, server: str = SERVER):
    """Engines with their status, capacity and reservations."""
    from .. import render

    with api_client(server) as api:
        emit(api.engines(), output, render.engines_table)


@app.command("add")
@report_errors
def hosts_add(address: str = typer.Argument(..., help="IP or name of a Docker host (TLS on --port), or 'local'."),
              engine_id: str = typer.Option(None, "--id", help="Engine id (default: the address)."),
              port: int = typer.Option(2376, "--port", min=1, max=65535),
              label: list[str] = typer.Option(None, "--label", help="KEY=VALUE for constraints (repeatable)."),
              cpus: float = typer.Option(None, "--cpus", help="Declared CPUs (default: what Docker reports)."),
              memory_mb: int = typer.Option(None, "--memory-mb", help="Declared memory (default: Docker's)."),
              tls: bool = typer.Option(True, "--tls/--no-tls", help="Reach the engine with mutual TLS "
                                       "(default), or over plain TCP (needs --insecure-tcp)."),
              insecure_tcp: bool = typer.Option(False, "--insecure-tcp", help="With --no-tls: yes, send Docker "
                                                "API calls in clear (admins only; a trusted network only)."),
              output: Output = OUTPUT, server: str = SERVER):
    """Add an engine by hand; it must answer over its API first (mutual TLS unless --no-tls), else nothing changes."""
    from .. import render
    from ..flags import parse_labels

    labels = parse_labels(label)
    with api_client(server) as api:
        added = api.add_engine(address, id=engine_id, port=port, labels=labels, cpus=cpus, memory_mb=memory_mb,
                               tls=tls, insecure_tcp=insecure_tcp)
    emit(added, output, lambda h: render.engines_table([h]))


@app.command("rm")
@report_errors
def hosts_rm(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Remove an engine and its etcd key (its containers keep running; nothing new is placed there).

    It stays removed, whatever its agent writes to etcd, until `paasops bootstrap` installs the host
    again or an admin runs `paasops hosts admit ID`."""
    with api_client(server) as api:
        emit(api.delete_engine(engine_id), output, lambda r: f"removed engine {r.deleted}")


@app.command("admit")
@report_errors
def hosts_admit(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Let an engine an admin removed come back (admins only); it joins once its certificate proves it."""
    with api_client(server) as api:
        emit(api.admit_engine(engine_id), output,
             lambda r: f"admitted engine {r.admitted}" + ("" if r.registered else " (not registered in etcd now)"))


@app.command("inspect")
@report_errors
def hosts_inspect(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT,
                  server: str = SERVER):
    """One engine in detail."""
    from .. import render

    with api_client(server) as api:
        emit(api.engine(engine_id), output, lambda h: render.kv_table(render.engine_pairs(h)))


@app.command("drain")
@report_errors
def hosts_drain(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Make an engine unschedulable and move its replicas elsewhere, start-first (admins only).

    Each replica starts on another engine under its own index and its old copy goes once the new one is
    ready, app by app. Refused, with nothing changed, when the other engines cannot hold them all (it says
    which app does not fit, and why). Containers paasops did not start are left and listed. Draining a
    drained engine again moves whatever was placed there since."""
    from .. import render

    console = err()
    with api_client(server) as api:
        result = api.drain_engine(engine_id, on_progress=None if output == Output.json else
                                  lambda event: console.print(event.get("line", ""), markup=False, soft_wrap=True))
    emit(result, output, render.drain_report)
    if not result.ok:
        raise PaasopsError(result.message, where=f"engine {engine_id}")


@app.command("cordon")
@report_errors
def hosts_cordon(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Make an engine take no new placements and move nothing (admins only); `hosts undrain` lifts it.

    Cordon several engines before draining them one by one, so that one's replicas do not move onto the
    next (`paasops patch --serial N` does this for each batch)."""
    with api_client(server) as api:
        emit(api.cordon_engine(engine_id), output, lambda r: r.message)


@app.command("undrain")
@report_errors
def hosts_undrain(engine_id: str = typer.Argument(..., metavar="ID"), output: Output = OUTPUT, server: str = SERVER):
    """Let a drained engine take placements again (admins only); its replicas stay where they were moved."""
    with api_client(server) as api:
        emit(api.undrain_engine(engine_id), output, lambda r: r.message)
