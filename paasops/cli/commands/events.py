"""`paasops events`: what happened (API operations, Docker events, host health), and --follow."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from ...errors import ConnectionFailed, NotFoundError
from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors

if TYPE_CHECKING:
    from ...client import ApiClient
    from ...results import EventView

app = typer.Typer()

FOLLOW_LOOKBACK = 30.0  # seconds `events --follow` looks back for events stored late


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
    from .. import render
    from ..flags import parse_since

    filters: dict[str, Any] = {"type": type_, "tag": tag, "app": app_name, "host": host}
    start = parse_since(since, time.time())
    with api_client(server) as api:
        found = api.events(**filters, since=start, limit=limit)
        if not follow:
            return emit(found, output, render.events_table)
        _follow(api, filters, found, start, output)


def _follow(api: ApiClient, filters: dict, found: list[EventView], since: float | None, output: Output) -> None:
    """Print events oldest first, then new ones as the service's event stream brings them (a
    service without the stream is polled every second); Ctrl-C ends it quietly."""
    printer = _Printer(output, since)
    said = False  # the interruption was told (once, not every second while the service is away)
    try:
        printer.show(reversed(found))
        while True:
            try:
                # Docker events keep the engine's time and reach the store a little later than our
                # own events: on (re)connecting look back a while; the ids printed keep them single.
                printer.show(api.event_stream(**filters, since=printer.horizon()))
                said = False
            except NotFoundError:  # an older service: no stream route
                return _poll(api, filters, printer)
            except ConnectionFailed as exc:  # the service restarts, or the network broke: try again
                if not said:
                    typer.secho(f"(event stream interrupted: {exc}; reconnecting)", err=True, fg="yellow")
                said = True
            time.sleep(1.0)
    except KeyboardInterrupt:
        return


def _poll(api: ApiClient, filters: dict, printer: _Printer) -> None:
    while True:
        time.sleep(1.0)
        printer.show(reversed(api.events(**filters, since=printer.horizon(), limit=10000)))


class _Printer:
    """Prints each event once, in the order given; remembers the ids of the look-back window."""

    def __init__(self, output: Output, since: float | None):
        self.output = output
        self.last = since or time.time()
        self.seen: set[str] = set()

    def horizon(self) -> float:
        horizon = self.last - FOLLOW_LOOKBACK
        bound = f"{int(horizon * 1e9):019d}"  # event ids start with their time in ns
        self.seen = {i for i in self.seen if i[:19] >= bound}
        return horizon

    def show(self, events: Iterable[EventView]) -> None:
        from .. import render

        for event in events:
            if event.id in self.seen:
                continue
            self.seen.add(event.id)
            typer.echo(json.dumps(event.model_dump()) if self.output == Output.json else render.event_line(event))
            sys.stdout.flush()
            self.last = max(self.last, event.time)
