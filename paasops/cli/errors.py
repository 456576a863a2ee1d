"""One place that turns library errors into a one-line message and an exit code."""

from __future__ import annotations

import functools

import typer

from ..errors import PaasopsError


def report_errors(fn):
    """Decorator for commands: PaasopsError -> 'error: MESSAGE' on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PaasopsError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.secho("interrupted", fg="red", err=True)
            raise typer.Exit(130) from None

    return wrapper

