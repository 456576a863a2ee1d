"""`paasops lab up|down|status`: local test hosts on the local Docker engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..common import output_option
from ..errors import report_errors

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Local lab hosts (Debian containers with sshd and systemd) to try paasops on.",
                  no_args_is_help=True)

INVENTORY = typer.Option(Path("inventory/lab.ini"), "--inventory", "-i",
                         help="Where to write the lab's Ansible-style inventory.")


@app.command()
@report_errors
def up(hosts: int = typer.Option(3, "--hosts", "-n", help="How many lab hosts to run."),
       capacities: str = typer.Option("4:4096,2:2048,8:8192", help=(
           "Declared CPUS:MEMORY_MB per host, cycled over the hosts (written to the inventory "
           "as paasops_cpus / paasops_memory_mb).")),
       inventory: Path = INVENTORY):
    """Start N lab hosts (building the Debian image once, about a minute), their etcd and inventory.

    Lab hosts have sshd, python3 and systemd, and no Docker: `paasops bootstrap` installs it.
    Running `up` again keeps existing hosts, adds missing ones and removes extra ones.
    """
    from ...lab import Lab, parse_capacities

    err = _stderr()
    lab = Lab(inventory_path=inventory, log=lambda msg: err.print(f"[dim]lab:[/] {msg}"))
    result = lab.up(hosts, parse_capacities(capacities))
    _print_hosts(result)
    err.print(f"inventory: {inventory}   etcd: {lab.etcd_endpoint()}")
    err.print(f"next: paasops bootstrap -i {inventory} lab")


@app.command()
@report_errors
def down(inventory: Path = INVENTORY):
    """Remove every lab host, its Docker volume, the lab network, the lab etcd and the inventory."""
    from ...lab import Lab

    removed = Lab(inventory_path=inventory).down()
    _stderr().print(f"removed {removed} lab host(s)")


@app.command()
@report_errors
def status(output: str = output_option("table", "table or json")):
    """Show the lab hosts: address, declared capacity, state, and whether sshd answers."""
    from ...lab import Lab

    hosts = Lab().hosts()
    if output == "json":
        typer.echo(json.dumps([h.__dict__ for h in hosts], indent=2))
    else:
        _print_hosts(hosts)


def _stderr() -> Console:
    from rich.console import (
        Console,  # on use: the lab's commands are rarely the ones run
    )

    return Console(stderr=True)


def _print_hosts(hosts) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "address", "cpus", "memory MB", "state", "sshd")
    for h in hosts:
        table.add_row(h.name, h.address, f"{h.cpus:g}", str(h.memory_mb), h.state, "yes" if h.ssh else "no")
    Console().print(table)
