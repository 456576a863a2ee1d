"""`paasops cluster info`: the cluster as a whole."""

from __future__ import annotations

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors

app = typer.Typer(help="The cluster as a whole.", no_args_is_help=True)


@app.command("info")
@report_errors
def cluster_info(output: Output = OUTPUT, server: str = SERVER):
    """Total and reserved CPU and memory, containers, images and engines, and the same per host."""
    from .. import render

    with api_client(server) as api:
        emit(api.cluster_info(), output, render.cluster_view)
