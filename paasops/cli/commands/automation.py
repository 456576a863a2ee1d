"""`paasops bootstrap`, `verify` and `play`: the agentless half of the command line."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer

from ...errors import PaasopsError, UserInputError
from ..common import output_option
from ..errors import report_errors

app = typer.Typer()

INVENTORY = typer.Option(None, "--inventory", "-i", help="Ansible-style inventory (INI or YAML). "
                         "Names not in it are taken as addresses.")
KNOWN_HOSTS = typer.Option(None, "--known-hosts", help="known_hosts file to check host keys against "
                           "(default: the host's paasops_known_hosts var, else ~/.ssh/known_hosts).")
ACCEPT_NEW = typer.Option(False, "--accept-new-host-keys",
                          help="Trust and record keys of hosts never seen before (a changed key is "
                               "always refused).")
HOSTS = typer.Argument(..., help="Host names, groups or addresses.")
FORKS = typer.Option(10, "--forks", "-f", min=1, help="Hosts worked on at once.")
CHECK = typer.Option(False, "--check", help="Change nothing; say what would change.")
DIFF = typer.Option(False, "--diff", help="Show file differences.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="A line per task and host.")


def inventory_hosts(inventory: Path | None, patterns: list[str]):
    """The inventory's hosts matching `patterns` (warnings for unknown names on stderr); none: UserInputError."""
    from ...inventory import Inventory, load_inventory

    inv = load_inventory(inventory) if inventory else Inventory()
    for warning in inv.warnings_for(patterns):  # plain text: a pattern may hold rich markup's '['
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    hosts = inv.resolve(patterns)
    if not hosts:
        raise UserInputError(f"no host matches {' '.join(patterns)}", where=str(inventory or "command line"))
    return hosts


def _has_edge_group(inventory: Path | None) -> bool:
    """Whether the inventory has a group `edge` with hosts in it (then only those run the edge proxy)."""
    from ...inventory import load_inventory

    group = load_inventory(inventory).groups.get("edge") if inventory else None
    return bool(group and (group.hosts or group.children))


def ssh_connect(known_hosts: Path | None, accept_new: bool):
    """A host → its SSH connector, host keys checked against `known_hosts` (or the host's var, or ~/.ssh)."""
    from ...connectors.ssh import connector_for

    def connect(host):
        path = known_hosts or host.vars.get("paasops_known_hosts")
        return connector_for(host, known_hosts=Path(path).expanduser() if path else None,
                             accept_new=accept_new)
    return connect


RECAP_OUTPUT = output_option("table", "table, or json: the recap (and checks) as JSON on stdout, progress "
                             "on stderr.")


def _run(playbook: Path, hosts, connect, *, check: bool, diff: bool, forks: int, verbose: bool,
         output: str = "table"):
    from rich.console import Console

    from ... import bootstrap as boot
    from ...automation.runner import run_playbook
    from ..progress import PlaybookProgress

    console = Console(stderr=True) if output == "json" else None
    with PlaybookProgress([h.name for h in hosts], console, verbose=verbose, diff=diff) as progress:
        report = run_playbook(playbook, hosts, connect, extra_vars={}, check=check, diff=diff,
                              forks=forks, templates_dir=boot.TEMPLATES_DIR, on_event=progress.on_event)
        progress.recap(report)
    return report


def _report_json(report, checks: dict | None = None) -> None:
    from dataclasses import asdict
    typer.echo(json.dumps({
        "recap": {h: asdict(r) for h, r in report.recap.items()}, "failed_hosts": list(report.failed_hosts),
        "unreachable": report.unreachable, "failures": report.failures,
        **({"verify": checks} if checks is not None else {})}, indent=2))


@app.command()
@report_errors
def bootstrap(hosts: list[str] = HOSTS,
              inventory: Path = INVENTORY,
              etcd: list[str] = typer.Option(None, "--etcd", help="etcd client URL(s) the hosts register "
                                             "in (default: the paasops_etcd_endpoints inventory var)."),
              check: bool = CHECK, diff: bool = DIFF,
              forks: int = FORKS, known_hosts: Path = KNOWN_HOSTS, accept_new: bool = ACCEPT_NEW,
              pki_dir: Path = typer.Option(None, "--pki-dir", help="Cluster CA and certificates "
                                           "(default: $PAASOPS_PKI_DIR or the user data dir)."),
              verify: bool = typer.Option(True, "--verify/--no-verify", help="Run the verify checks after."),
              verbose: bool = VERBOSE,
              output: str = RECAP_OUTPUT):
    """Turn bare Debian/Ubuntu servers into TLS-secured Docker hosts registered in etcd.

    Runs playbooks/bootstrap.yml on every host in parallel: installs docker.io, writes
    /etc/docker/daemon.json (API on tcp 2376 with mutual TLS, log rotation, live-restore, init),
    installs a server certificate from the cluster CA (created once, kept on this machine),
    installs and starts the etcd registration agent, then verifies each host.
    """
    from ... import bootstrap as boot
    from ...pki import default_pki_dir

    targets = inventory_hosts(inventory, hosts)
    pki_dir = pki_dir or default_pki_dir()
    boot.prepare_hosts(targets, pki_dir, etcd, edge_group=_has_edge_group(inventory))
    connect = ssh_connect(known_hosts, accept_new)
    report = _run(boot.BOOTSTRAP_PLAYBOOK, targets, connect, check=check, diff=diff, forks=forks,
                  verbose=verbose, output=output)
    failed = set(report.failed_hosts)
    checks = None
    if verify and not check:
        good = [h for h in targets if h.name not in failed]
        bad, checks = _verify(good, connect, pki_dir, etcd, forks, output="none" if output == "json" else output)
        failed |= bad
    if output == "json":
        _report_json(report, checks)
    if failed:
        raise typer.Exit(2)


@app.command()
@report_errors
def verify(hosts: list[str] = HOSTS,
           inventory: Path = INVENTORY,
           etcd: list[str] = typer.Option(None, "--etcd", help="etcd client URL(s) to look for the "
                                          "registration in."),
           forks: int = FORKS, known_hosts: Path = KNOWN_HOSTS, accept_new: bool = ACCEPT_NEW,
           pki_dir: Path = typer.Option(None, "--pki-dir", help="Cluster CA and client certificate."),
           output: str = output_option("table", "table or json")):
    """Check bootstrapped hosts: Docker running, API over mutual TLS (and refused without a
    client cert or without TLS), registration agent running, engine key present in etcd."""
    from ...pki import default_pki_dir

    targets = inventory_hosts(inventory, hosts)
    failed, _ = _verify(targets, ssh_connect(known_hosts, accept_new), pki_dir or default_pki_dir(), etcd,
                        forks, output=output)
    if failed:
        raise typer.Exit(2)


def _verify(hosts, connect, pki_dir: Path, etcd, forks: int, output: str = "table"):
    """Check hosts in parallel; print them (table/json/none); returns (failed names, checks as data)."""
    from rich.console import Console
    from rich.table import Table

    from ... import bootstrap as boot
    from ...verify import Check, verify_host

    def one(host):
        try:
            with connect(host) as conn:
                return verify_host(conn, name=host.name, address=host.address, become=host.become,
                                   pki_dir=pki_dir, etcd_endpoints=boot.etcd_endpoints_for(host, etcd))
        except PaasopsError as exc:
            return [Check("reachable", False, str(exc))]

    with ThreadPoolExecutor(max_workers=forks) as pool:
        results = dict(zip([h.name for h in hosts], pool.map(one, hosts), strict=True))
    as_data = {h: [c.__dict__ for c in cs] for h, cs in results.items()}
    if output == "json":
        typer.echo(json.dumps(as_data, indent=2))
    elif output != "none":
        table = Table("host", "check", "result", "detail", title="verify")
        for name, checks in results.items():
            for c in checks:
                table.add_row(name, c.name, "[green]ok[/]" if c.ok else "[red]FAILED[/]", c.detail)
        Console().print(table)
    return {name for name, checks in results.items() if not all(c.ok for c in checks)}, as_data


@app.command()
@report_errors
def play(playbook: Path = typer.Argument(..., exists=True, dir_okay=False, help="A YAML playbook."),
         hosts: list[str] = HOSTS,
         inventory: Path = INVENTORY,
         check: bool = CHECK, diff: bool = DIFF,
         forks: int = FORKS, known_hosts: Path = KNOWN_HOSTS, accept_new: bool = ACCEPT_NEW,
         verbose: bool = VERBOSE,
         output: str = RECAP_OUTPUT):
    """Run any playbook on hosts (what bootstrap does with playbooks/bootstrap.yml)."""
    targets = inventory_hosts(inventory, hosts)
    report = _run(playbook, targets, ssh_connect(known_hosts, accept_new), check=check, diff=diff,
                  forks=forks, verbose=verbose, output=output)
    if output == "json":
        _report_json(report)
    if report.failed_hosts:
        raise typer.Exit(2)
