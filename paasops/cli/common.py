"""What the commands share: the consoles, the --output and --server options, `emit`, the API-client factory."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..client import ApiClient


class Output(str, Enum):
    table = "table"
    json = "json"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def output_option(default: Any, help: str) -> Any:
    """The one `--output/-o` flag; each command family says its default (and so its accepted values) and help."""
    return typer.Option(default, "--output", "-o", help=help)


OUTPUT = output_option(Output.table, "table for people, json (the API's answer) for scripts.")
SERVER = typer.Option(None, "--server", metavar="URL", help="The service's API (default: $PAASOPS_SERVER, "
                      "`server` in the config file, else http://127.0.0.1:5002).")


# Consoles are made on first use: rich costs a good part of `paasops --help` otherwise.
@cache
def out() -> Console:
    """stdout; not on a terminal (a pipe, a test), tables are not squeezed into 80 columns."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 240)


@cache
def err() -> Console:
    """stderr: progress, notes and per-item errors (stdout keeps the answer)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit(data: Any, output: Output, human: Callable[[Any], Any]) -> None:
    """JSON exactly as the API answered, or the human rendering of it."""
    if output == Output.json:
        from pydantic_core import to_jsonable_python  # the result models back to the API's JSON

        typer.echo(json.dumps(to_jsonable_python(data, fallback=str), indent=2, default=str))
    else:
        out().print(human(data))


def api_client(server: str | None, timeout: float = 30.0) -> ApiClient:
    """A client of the service's API (httpx is imported here, on use, not when the CLI starts)."""
    from ..client import ApiClient

    return ApiClient(server, timeout=timeout)
