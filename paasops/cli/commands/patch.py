"""`paasops patch`: rolling host maintenance — drain, playbook, wait until healthy, undrain, batch by batch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors
from .automation import ACCEPT_NEW, INVENTORY, KNOWN_HOSTS, inventory_hosts, ssh_connect

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from ...maintenance_plan import PatchPlan, PatchReport

app = typer.Typer()


class PatchProgress:
    """Each host's step as it happens: a live table on a terminal, else a line per change (to stderr)."""

    def __init__(self, hosts: list[str], console: Console):
        self.console, self.rows = console, {h: ["waiting", ""] for h in hosts}
        self.lock = threading.Lock()
        self.live: Live | None = None
        self.printed: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> PatchProgress:
        if self.console.is_terminal:
            from rich.live import Live

            live = Live(get_renderable=self.table, console=self.console, refresh_per_second=4, transient=True)
            live.__enter__()
            self.live = live
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def table(self) -> Table:
        from ..render import table

        with self.lock:
            return table(["HOST", "STEP", "NOW"], [[h, step, line] for h, (step, line) in self.rows.items()])

    def on_step(self, host: str, step: str, line: str) -> None:
        with self.lock:
            self.rows[host] = [step, line]
            if self.live is None and self.printed.get(host) != (step, line):
                self.printed[host] = (step, line)
                self.console.print(f"{host}: {step}" + (f": {line}" if line else ""), markup=False,
                                   soft_wrap=True, highlight=False)


def report_table(r: PatchReport) -> Table:
    from ..render import styled, table

    colour = {"done": "green", "failed": "red", "untouched": "yellow"}
    rows = [[h.host, h.batch, styled(h.status, colour.get(h.status, "")), h.step or "", h.moved,
             *(f"{h.seconds[s]:.1f}" if s in h.seconds else "" for s in ("drain", "play", "wait", "undrain")),
             "yes" if h.drained else ""] for h in r.hosts]
    return table(["HOST", "BATCH", "STATUS", "FAILED AT", "MOVED", "DRAIN S", "PLAY S", "WAIT S", "UNDRAIN S",
                  "DRAINED"], rows, title=r.message)


def report_view(r: PatchReport):
    from rich.console import Group
    from rich.text import Text

    from ...maintenance_plan import failure_line

    failures = [Text(f"{failure_line(h)}", style="red") for h in r.failed]
    return Group(report_table(r), *failures, *(Text(f"warning: {w}", style="yellow") for w in r.warnings))


def plan_view(p: PatchPlan):
    from rich.console import Group
    from rich.text import Text

    from ..render import table

    rows = [[h.host, h.batch, ", ".join(f"{m.app} -> {m.to_host}" for m in h.moves) or "nothing to move",
             "; ".join(f"{c.status}: {c.task}" + (f" ({c.message})" if c.message else "") for c in h.changes)
             or "no change"] for h in p.hosts]
    stranded = [Text(f"{h.host}: {s}", style="red") for h in p.hosts for s in h.stranded]
    return Group(table(["HOST", "BATCH", "DRAIN WOULD MOVE", "PLAYBOOK (CHECK MODE)"], rows,
                       title=f"patch plan ({p.playbook}); nothing is changed"), *stranded,
                 Text(p.message, style="" if p.ok else "red"))


@app.command()
@report_errors
def patch(hosts: list[str] = typer.Argument(..., metavar="GROUP...", help="Inventory groups or hosts, patched "
                                            "in inventory order."),
          inventory: Path = INVENTORY,
          playbook: Path = typer.Option(..., "--playbook", help="The playbook run on each host (e.g. "
                                        "playbooks/upgrade.yml)."),
          serial: int = typer.Option(1, "--serial", help="Hosts drained and patched at once."),
          max_fail: int = typer.Option(0, "--max-fail", help="Failed hosts allowed before the run stops "
                                       "(0: stop at the first)."),
          check: bool = typer.Option(False, "--check", help="Change nothing: show the hosts in order, what "
                                     "each drain would move and what the playbook would change."),
          wait_timeout: float = typer.Option(300.0, "--wait-timeout", help="Seconds a host may take to show up "
                                             "healthy and registered after the playbook."),
          known_hosts: Path = KNOWN_HOSTS, accept_new: bool = ACCEPT_NEW,
          output: Output = OUTPUT, server: str = SERVER):
    """Patch hosts one batch at a time: drain (start-first), run the playbook, wait until healthy, undrain.

    Each host of the group in turn (--serial at a time) is drained through the service (its replicas move
    start-first, so no app loses ready capacity), the playbook runs on it over SSH, the service must show it
    up and registered again, then it is undrained. The first failure (or more than --max-fail) stops the run:
    that host stays drained, the hosts after it are not touched, and the report says which step and task
    failed with its output. Every step is recorded as an event (patch-*). Admins only."""
    from ...automation import load_playbook
    from ...maintenance import Patcher

    targets = inventory_hosts(inventory, hosts)
    book = load_playbook(playbook)
    console = err()
    with api_client(server, timeout=60.0) as api:
        progress = PatchProgress([h.name for h in targets], console)
        patcher = Patcher(api, book, targets, ssh_connect(known_hosts, accept_new), serial=serial,
                          max_fail=max_fail, wait_timeout=wait_timeout,
                          on_step=progress.on_step)
        if check:
            plan = patcher.plan()
            emit(plan, output, plan_view)
            if not plan.ok:
                raise typer.Exit(3)
            return
        patcher.check_service()  # an unknown host: said before the progress display starts
        with progress:
            report = patcher.run()
    emit(report, output, report_view)
    if not report.ok:
        raise typer.Exit(2)
