"""`paasops routes`: where each exposed app answers, its backends and what every edge serves of it."""

from __future__ import annotations

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors

app = typer.Typer()


@app.command()
@report_errors
def routes(output: Output = OUTPUT, server: str = SERVER):
    """Hostnames and ports of exposed apps → their backends (ready or drain), and what each edge serves."""
    from .. import render

    with api_client(server) as api:
        emit(api.routes(), output, render.routes_view)
