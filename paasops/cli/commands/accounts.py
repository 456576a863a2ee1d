"""`paasops accounts list|whoami|add|update|rm|passwd|unlock`: the service's accounts (admins manage them)."""

from __future__ import annotations

from urllib.parse import quote

import typer

from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors
from .session import PASSWORD_STDIN, new_password

app = typer.Typer(help="Accounts of the service (admins): list, add, update teams, remove, set passwords.",
                  no_args_is_help=True)


def _accounts_table(rows: list[dict]):
    from .. import render
    from ..formats import fmt_time

    return render.table(["NAME", "ROLE", "TEAM", "CREATED", "UPDATED"],
                        [[a["name"], a["role"], a.get("team") or "-", fmt_time(a["created_at"]),
                          fmt_time(a["updated_at"])] for a in rows])


TEAM = typer.Option(None, "--team", help="Its team: members see and act on the apps each of them deploys.")


def _account_line(a: dict) -> str:
    return f"account {a['name']} (role {a['role']}" + (f", team {a['team']})" if a.get("team") else ")")


@app.command("list")
@report_errors
def accounts_list(output: Output = OUTPUT, server: str = SERVER):
    """Every account and its role."""
    with api_client(server) as api:
        emit(api.request("GET", "/api/accounts"), output, _accounts_table)


@app.command("whoami")
@report_errors
def accounts_whoami(output: Output = OUTPUT, server: str = SERVER):
    """The account you are logged in as."""
    from ..formats import fmt_time

    with api_client(server) as api:
        emit(api.request("GET", "/api/account"), output,
             lambda a: f"{a['name']} (role {a['role']}), token valid until {fmt_time(a['token_expires_at'])}")


@app.command("add")
@report_errors
def accounts_add(name: str = typer.Argument(..., metavar="NAME"),
                 role: str = typer.Option("user", "--role", help="admin, or user (containers, apps, events, "
                                          "cluster info, reading engines)."),
                 team: str | None = TEAM, password_stdin: bool = PASSWORD_STDIN, output: Output = OUTPUT,
                 server: str = SERVER):
    """Add an account (its password is asked twice, or read from stdin)."""
    password = new_password(password_stdin, f"Password for {name}")
    with api_client(server) as api:
        added = api.request("POST", "/api/accounts",
                            body={"name": name, "password": password, "role": role, "team": team})
    emit(added, output, lambda a: f"added {_account_line(a)}")


@app.command("update")
@report_errors
def accounts_update(name: str = typer.Argument(..., metavar="NAME"), team: str | None = TEAM,
                    no_team: bool = typer.Option(False, "--no-team", help="Take the account out of its team."),
                    output: Output = OUTPUT, server: str = SERVER):
    """Put an account in a team, or out of it (admins); apps keep the team they were deployed with."""
    from ...errors import UserInputError

    if (team is None) == (not no_team):
        raise UserInputError("give --team TEAM or --no-team (one of them)", where="accounts update")
    with api_client(server) as api:
        updated = api.request("PATCH", f"/api/accounts/{quote(name, safe='')}", body={"team": team})
    emit(updated, output, lambda a: f"updated {_account_line(a)}")


@app.command("rm")
@report_errors
def accounts_rm(name: str = typer.Argument(..., metavar="NAME"), output: Output = OUTPUT, server: str = SERVER):
    """Delete an account; its tokens stop working at once."""
    with api_client(server) as api:
        deleted = api.request("DELETE", f"/api/accounts/{quote(name, safe='')}")
    emit(deleted, output, lambda r: f"deleted account {r['deleted']}")


@app.command("passwd")
@report_errors
def accounts_passwd(name: str = typer.Argument(..., metavar="NAME"), password_stdin: bool = PASSWORD_STDIN,
                    output: Output = OUTPUT, server: str = SERVER):
    """Set another account's password (admins); that account's sessions end."""
    password = new_password(password_stdin, f"New password for {name}")
    with api_client(server) as api:
        answer = api.request("POST", f"/api/accounts/{quote(name, safe='')}/password",
                             body={"password": password})
    emit(answer, output, lambda a: f"password of {a['account']} set; {a['tokens_revoked']} session(s) logged out")


@app.command("unlock")
@report_errors
def accounts_unlock(name: str = typer.Argument(..., metavar="NAME"), output: Output = OUTPUT, server: str = SERVER):
    """Lift an account's login lockout (after repeated failed logins) and its backoff (admins)."""
    with api_client(server) as api:
        answer = api.request("POST", f"/api/accounts/{quote(name, safe='')}/unlock")
    emit(answer, output, lambda a: f"{a['account']}: " + ("lockout lifted" if a["was_locked"] else
                                                          "backoff lifted" if a["unlocked"] else "was not locked"))
