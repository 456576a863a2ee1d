"""`paasops inventory list|graph`: what an inventory resolves to, as `ansible-inventory` shows it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import report_errors

app = typer.Typer(help="Show what an Ansible-style inventory resolves to (like ansible-inventory).",
                  no_args_is_help=True)

INVENTORY = typer.Option(None, "--inventory", "-i", help="Ansible-style inventory: an INI or YAML file, "
                         "or a directory of them (with group_vars/ and host_vars/).")


def _load(inventory: Path | None):
    from ...inventory import Inventory, load_inventory
    return load_inventory(inventory) if inventory else Inventory()


@app.command("list")
@report_errors
def list_(pattern: str = typer.Argument(None, help="Only the hosts of this host, group or glob "
                                        "(like --limit)."),
          inventory: Path = INVENTORY):
    """JSON like `ansible-inventory --list`: groups, their hosts and children, and host vars."""
    from ...inventory import ansible_list
    typer.echo(json.dumps(ansible_list(_load(inventory), pattern), indent=4, sort_keys=True))


@app.command()
@report_errors
def graph(group: str = typer.Argument("all", help="The group the tree starts at."),
          inventory: Path = INVENTORY):
    """The tree of groups (@name:) and hosts, like `ansible-inventory --graph`."""
    from ...inventory import ansible_graph
    typer.echo(ansible_graph(_load(inventory), group))
