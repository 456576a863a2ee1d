"""`paasops events`: what happened (API operations, Docker events, host health), and --follow."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import typer

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
    """Print events oldest first, then poll every second for newer ones."""
    from .. import render

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
