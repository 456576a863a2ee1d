"""`paasops tokens create|list|revoke`: long-lived API tokens for jobs (cron, timers, CI)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

app = typer.Typer(help="API tokens for jobs (cron, timers, CI): create, list, revoke.", no_args_is_help=True)


def _tokens_table(rows: list[dict]):
    from .. import render
    from ..formats import fmt_time

    return render.table(["NAME", "USER", "ROLE", "ROUTES", "EXPIRES", "CREATED"],
                        [[t["name"], t["user"], t["role"], ", ".join(t["routes"]) or "(the role's)",
                          fmt_time(t["expires_at"]) if t["expires_at"] else "never", fmt_time(t["created_at"])]
                         for t in rows])


@app.command("create")
@report_errors
def tokens_create(name: str = typer.Argument(..., metavar="NAME"),
                  role: str = typer.Option(..., "--role", help="The token's role: yours at most (an admin: any)."),
                  route: list[str] = typer.Option([], "--route", metavar="RULE",
                                                  help="Only these routes ('METHOD /api/path' or '/api/path'); "
                                                       "repeatable. Default: all the role allows."),
                  expires: float = typer.Option(365.0, "--expires", metavar="DAYS", help="Days it lives."),
                  never: bool = typer.Option(False, "--no-expiry", help="It never expires (revoke it by hand)."),
                  write: Path | None = typer.Option(None, "--write", metavar="FILE",
                                                    help="Write the token to FILE (mode 0600) instead of "
                                                         "printing it."),
                  output: Output = OUTPUT, server: str = SERVER):
    """Create an API token for a job; it is shown once (or written to --write FILE, mode 0600).

    Jobs use it as PAASOPS_TOKEN=user:TOKEN or PAASOPS_TOKEN_FILE=FILE.
    """
    body = {"name": name, "role": role, "routes": route, "expires_days": None if never else expires}
    with api_client(server) as api:
        made = api.request("POST", "/api/tokens", body=body)
    if write is not None:
        from .session import save_token

        save_token(made["token"], write)
        err().print(f"token {name} written to {write} (mode 0600): PAASOPS_TOKEN_FILE={write}")
        made = {**made, "token": None}
    emit(made, output, lambda t: t["token"] or f"created API token {t['name']} (role {t['role']})")


@app.command("list")
@report_errors
def tokens_list(output: Output = OUTPUT, server: str = SERVER):
    """Your API tokens (an admin: everyone's); their secrets are never shown again."""
    with api_client(server) as api:
        emit(api.request("GET", "/api/tokens"), output, _tokens_table)


@app.command("revoke")
@report_errors
def tokens_revoke(name: str = typer.Argument(..., metavar="NAME"), output: Output = OUTPUT, server: str = SERVER):
    """Revoke an API token: it stops working at once."""
    with api_client(server) as api:
        gone = api.request("DELETE", f"/api/tokens/{quote(name, safe='')}")
    emit(gone, output, lambda r: f"revoked API token {r['revoked']}")
