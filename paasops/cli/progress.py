"""Live progress of a playbook run (a rich table, one row per host) and Ansible's recap."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from paasops.automation.recap import (
    Event,
    HostFinished,
    HostRecap,
    HostUnreachable,
    PlayStarted,
    RunFinished,
    RunReport,
    TaskFinished,
    TaskStarted,
)

STATUS_STYLE = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "cyan",
                "unreachable": "bold red"}


@dataclass
class _Row:
    state: str = "waiting"
    task: str = ""
    recap: HostRecap | None = None


def _label(status: str, check: bool) -> str:
    return "would change" if status == "changed" and check else status


class PlaybookProgress:
    """The `on_event` sink for run_playbook: live table while running, recap at the end.

    Failures and unreachable hosts are always printed; with `verbose` every task result is
    ("changed: [host] task"); with `diff` file diffs are printed as they come.
    """

    def __init__(self, hosts: Iterable[str] = (), console: Console | None = None, *, verbose: bool = False,
                 diff: bool = False):
        self.console = console or Console()
        self.verbose, self.show_diff = verbose, diff
        self.rows: dict[str, _Row] = {h: _Row() for h in hosts}
        self.play = ""
        self.check = False
        self._live: Live | None = None
        self._recap_shown = False

    def __enter__(self) -> PlaybookProgress:
        self._live = Live(get_renderable=self.table, console=self.console, refresh_per_second=8,
                          transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def table(self) -> Table:
        table = Table(title=f"[bold]{escape(self.play)}[/]" + (" (check mode)" if self.check else ""),
                      expand=False)
        for col in ("host", "state", "task", "ok", "changed", "failed", "skipped"):
            table.add_column(col, justify="right" if col in ("ok", "changed", "failed", "skipped") else "left")
        for host, row in self.rows.items():
            recap = row.recap or HostRecap()
            style = {"failed": "red", "unreachable": "bold red", "done": "green"}.get(row.state, "")
            table.add_row(host, Text(row.state, style=style), row.task, str(recap.ok), str(recap.changed),
                          str(recap.failed), str(recap.skipped))
        return table

    def __call__(self, event: Event) -> None:
        if isinstance(event, PlayStarted):
            self.play, self.check = event.play, event.check
            for host in event.hosts:
                self.rows.setdefault(host, _Row())
            if not event.hosts:
                self.console.print(Text(f"play {event.play}: no hosts matched", style="dim"))
        elif isinstance(event, TaskStarted):
            row = self.rows.setdefault(event.host, _Row())
            row.state, row.task = "running", event.task + (" (handler)" if event.handler else "")
        elif isinstance(event, TaskFinished):
            self._result(event)
        elif isinstance(event, HostUnreachable):
            row = self.rows.setdefault(event.host, _Row())
            row.state, row.task = "unreachable", ""
        elif isinstance(event, HostFinished):
            row = self.rows.setdefault(event.host, _Row())
            if row.state == "running":
                row.state, row.task = "done", ""
        elif isinstance(event, RunFinished):
            self.recap(event.report)

    on_event = __call__

    def recap(self, report: RunReport) -> None:
        """Stop the live table and print the recap (once, however often it is called)."""
        self._stop()
        if not self._recap_shown:
            self._recap_shown = True
            print_recap(report, self.console)

    def _result(self, event: TaskFinished) -> None:
        result = event.result
        row = self.rows.setdefault(result.host, _Row())
        row.recap = row.recap or HostRecap()
        row.recap.add(result)
        if result.status == "failed" and not result.ignored:
            row.state = "failed"
        label = _label(result.status, result.check) + (" (ignored)" if result.ignored else "")
        shown = self.verbose or result.status in ("failed", "unreachable")
        if shown or (self.show_diff and result.diff):
            line = Text(f"{label}: [{result.host}] {result.task}", style=STATUS_STYLE.get(result.status, ""))
            if result.message and (shown and (result.status in ("failed", "unreachable") or self.verbose)):
                line.append(f" — {result.message[:500]}", style="dim")
            self.console.print(line, highlight=False)
        if self.show_diff and result.diff:
            self.console.print(Syntax(result.diff, "diff", theme="ansi_dark", background_color="default"))


def print_recap(report: RunReport, console: Console) -> None:
    """PLAY RECAP, one line per host, coloured like Ansible's."""
    title = Text("\nPLAY RECAP", style="bold")
    if report.check:
        title.append(" (check mode: nothing was changed)", style="dim")
    console.print(title)
    width = max((len(h) for h in report.recap), default=0)
    for host, recap in report.recap.items():
        bad = host in report.failures or host in report.unreachable
        line = Text()
        line.append(host.ljust(width), style="red" if bad else "green")
        line.append(" :")
        for i, (name, n, style) in enumerate((
                ("ok", recap.ok, "green"), ("changed", recap.changed, "yellow"),
                ("unreachable", recap.unreachable, "bold red"), ("failed", recap.failed, "red"),
                ("skipped", recap.skipped, "cyan"), ("ignored", recap.ignored, "magenta"))):
            line.append(" " if i == 0 else "  ")
            line.append(f"{name}={n}", style=style if n else "")
        console.print(line, highlight=False)
    for host, message in report.unreachable.items():
        console.print(Text(f"unreachable: [{host}] {message}", style="bold red"), highlight=False)
    for host, message in report.failures.items():
        console.print(Text(f"failed: [{host}] {message}", style="red"), highlight=False)
