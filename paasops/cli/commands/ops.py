"""`paasops reconcile` and `paasops report`: the cron jobs, with exit codes a wrapper can act on."""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, Group
from rich.markup import escape

from ...errors import ConflictError, UserInputError
from .. import render
from ..common import OUTPUT, SERVER, Output, api_client, emit, err, out, output_option
from ..errors import report_errors
from ..render_plan import headroom_parts

app = typer.Typer()

if TYPE_CHECKING:
    from ...results import ActionOutcome, AppSync, HostRow, ReconcileResult, Report

# Exit codes of `paasops reconcile` (5, 2 and 4 come from the error hierarchy, as for every command).
IN_SYNC, APPLIED, OUT_OF_SYNC, BUSY = 0, 10, 11, 12
RECONCILE_TIMEOUT = 900.0  # seconds: creating replicas may pull images
EXIT_CODES = """Exit codes, for cron wrappers:

\b
  0   in sync: nothing to do
  10  changes applied, now in sync (with --dry-run: there is something to do)
  11  some actions failed: still out of sync
  12  another reconcile is running
  5   the service (or its etcd lock) is unreachable
  4   not logged in, or not allowed
  2   bad input"""


class ReportOutput(str, Enum):
    table = "table"
    json = "json"
    html = "html"


def exit_code(result: ReconcileResult) -> int:
    """The exit code of a reconcile result (see EXIT_CODES)."""
    if not result.actions:
        return IN_SYNC
    if result.dry_run:
        return APPLIED
    return APPLIED if result.in_sync else OUT_OF_SYNC


# -- reconcile -----------------------------------------------------------------------------------
def _what(a: ActionOutcome) -> str:
    if a.kind == "create":
        return f"{a.count} replica{'s' if a.count != 1 else ''}"
    return f"{a.container[:12]} {a.name or ''}".strip()


def reconcile_view(result: ReconcileResult) -> Group:
    """The plan (or what was done): one line per action, with its reason and outcome."""
    rows = [[a.kind, a.app, _what(a), a.host or "", a.reason, a.detail or "",
             render.styled(a.outcome, {"ok": "green", "planned": "cyan", "skipped": "yellow"}.get(a.outcome))
             + (f" {a.error}" if a.error else "")] for a in result.actions]
    parts: list[Any] = [f"[bold]{escape(result.message)}[/]"]
    if rows:
        parts.append(render.table(["ACTION", "APP", "WHAT", "HOST", "REASON", "DETAIL", "OUTCOME"], rows))
    for names, text in ((result.busy, "left alone, being deployed or scaled now"),
                        (result.unreachable_hosts, "hosts that did not answer (their containers were not touched)")):
        if names:
            parts.append(escape(f"{text}: {', '.join(names)}"))
    return Group(*parts)


@app.command(epilog=EXIT_CODES)
@report_errors
def reconcile(dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
              apps: list[str] = typer.Option(None, "--app", metavar="PATTERN",
                                             help="Only apps matching this shell-style pattern (repeatable)."),
              output: Output = OUTPUT, server: str = SERVER):
    """Converge the engines on the desired state: re-create missing replicas, remove duplicates (most
    loaded hosts first), orphans (unknown app or old spec) and dead containers. Only containers
    labelled paasops.app are touched. The service runs one reconcile at a time."""
    try:
        with api_client(server, RECONCILE_TIMEOUT) as api:
            result = api.reconcile(dry_run=dry_run, apps=apps or None)
    except ConflictError as exc:  # the service's lock is held by another run
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(BUSY) from None
    emit(result, output, reconcile_view)
    raise typer.Exit(exit_code(result))


# -- report --------------------------------------------------------------------------------------
def hosts_table(hosts: list[HostRow]):
    return render.table(
        ["HOST", "STATUS", "CPUS", "CPU %", "MEMORY", "MEMORY %", "RUNNING/ALL", "ERROR"],
        [[h.id, render.styled(h.status), f"{h.reserved_cpus:g}/{h.cpus:g}", f"{h.cpu_percent:g}",
          f"{render.fmt_mb(h.reserved_memory_mb)}/{render.fmt_mb(h.memory_mb)}", f"{h.memory_percent:g}",
          f"{h.running}/{h.containers}", h.error or ""] for h in hosts], "hosts: reserved of capacity")


def app_sync_table(apps: list[AppSync]):
    return render.table(
        ["APP", "DESIRED", "RUNNING", "READY", "MISSING", "EXTRA", "OLD SPEC", "ON HOSTS DOWN", "HOSTS", "STATE"],
        [[a.name, a.desired, a.running,
          render.styled(a.ready, "green" if a.ready == a.desired else "red" if a.unhealthy else "yellow"),
          a.missing, a.extra, a.stale, a.unreachable,
          ",".join(f"{k}({v})" for k, v in a.hosts.items()),
          render.styled("in sync" if a.in_sync else "out of sync", "green" if a.in_sync else "yellow")]
         for a in apps], "apps: replicas running versus desired")


def report_view(report: Report) -> Group:
    t, rec = report.totals, report.reconcile
    head = (f"[bold]paasops report[/] {render.fmt_time(report.generated_at)}: "
            f"{t.engines_up} of {t.engines} hosts up, "
            f"{t.reserved_cpus:g} of {t.cpus:g} CPUs ({t.cpu_percent:g}%) and "
            f"{render.fmt_mb(t.reserved_memory_mb)} of {render.fmt_mb(t.memory_mb)} "
            f"({t.memory_percent:g}%) reserved; "
            + ("in sync" if rec.in_sync else f"{rec.pending} reconcile action(s) pending"))
    down = report.hosts_down
    parts: list[Any] = [head, "", hosts_table(report.hosts), ""]
    if down:
        parts += [escape("hosts down or degraded: " + ", ".join(f"{h.id} ({h.status})" for h in down)), ""]
    parts += [app_sync_table(report.apps), ""]
    if report.routes:
        parts += ["[bold]routes[/] (app.yml expose)", render.routes_table(report.routes), ""]
    parts += headroom_parts(report.headroom)
    parts += ["[bold]events of the last 24 hours[/] (newest first)", render.events_table(report.events)]
    return Group(*parts)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one rename, so a web server never serves half a page."""
    path = path.expanduser()
    if path.is_dir():
        raise UserInputError("is a directory: give a file name", where=str(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except FileNotFoundError:
        raise UserInputError("its directory does not exist", where=str(path)) from None
    except OSError as exc:
        raise UserInputError(f"cannot write: {exc.strerror}", where=str(path)) from None


@app.command()
@report_errors
def report(output: ReportOutput = output_option(ReportOutput.table, "table for people, json for scripts, "
                                                "html: one self-contained page with charts."),
           out_file: Path = typer.Option(None, "--out", metavar="FILE",
                                         help="Write to FILE (replaced atomically) instead of stdout."),
           server: str = SERVER):
    """Capacity and utilisation per host, replicas per app versus desired, hosts down, the last day's events."""
    with api_client(server) as api:
        data = api.report()
    if output == ReportOutput.json:
        text = json.dumps(data.model_dump(mode="json"), indent=2, default=str) + "\n"
    elif output == ReportOutput.html:
        from ..report_html import render as render_html

        text = render_html(data)
    elif out_file is None:
        return out().print(report_view(data))
    else:
        buffer = StringIO()
        Console(file=buffer, width=160, no_color=True, highlight=False).print(report_view(data))
        text = buffer.getvalue()
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        write_atomically(out_file, text)
        err().print(f"report written to {escape(str(out_file))}")
