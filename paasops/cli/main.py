"""The `paasops` command: one typer app with a sub-app per area."""

from __future__ import annotations

import typer

from . import lab

app = typer.Typer(
    help="paasops: a private PaaS for your own Linux servers. Bootstrap Docker hosts over SSH, "
         "then place, deploy and watch containers across them.",
    no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(lab.app, name="lab")


def _register() -> None:
    """Sub-modules that add commands to `app` (kept import-light: each imports on use)."""
    from . import automation  # noqa: F401  (bootstrap, verify, play)
    from . import service  # noqa: F401
    from . import ops  # noqa: F401  (reconcile, report)
    from . import accounts  # noqa: F401  (login, logout, passwd, accounts)


_register()
