"""The `paasops` command: one typer group; each command's module is imported only when that command is used."""

from __future__ import annotations

import typer

from .lazy import LazyGroup

app = typer.Typer(
    cls=LazyGroup,
    help="paasops: a private PaaS for your own Linux servers. Bootstrap Docker hosts over SSH, "
         "then place, deploy and watch containers across them.",
    no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    # Typer makes a group only for an app with a callback or several commands; the commands are added lazily.
    pass
