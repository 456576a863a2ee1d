"""`paasops login`, `logout`, `passwd` and `accounts …`: sessions and accounts of the service's API."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import typer

from ..errors import AuthError, ConnectionFailed, UserInputError
from . import render
from .errors import report_errors
from .main import app
from .service import OUTPUT, SERVER, Output, _client, emit, err

accounts_app = typer.Typer(help="Accounts of the service (admins): list, add, remove, set passwords.",
                           no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from stdin (one line).")


# -- the token file ----------------------------------------------------------------------------
def token_path() -> Path:
    from ..client import config_dir

    return config_dir() / "token"


def save_token(credential: str) -> Path:
    """Write the token readable by its owner only (dir 0700, file 0600), atomically."""
    path = token_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".token-")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(credential + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- reading passwords -------------------------------------------------------------------------
def _stdin_lines(n: int) -> list[str]:
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(n)]
    if not all(lines):
        raise UserInputError(f"expected {n} non-empty line(s) on stdin", where="--password-stdin")
    return lines


def _ask(prompt: str, confirm: bool = False) -> str:
    if not sys.stdin.isatty():
        raise UserInputError("no terminal to ask on: pipe it in with --password-stdin", where="password")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def new_password(stdin: bool, prompt: str = "New password") -> str:
    return _stdin_lines(1)[0] if stdin else _ask(prompt, confirm=True)


# -- sessions ----------------------------------------------------------------------------------
@app.command()
@report_errors
def login(username: str = typer.Option(None, "--username", "-u", help="Account name (asked if not given)."),
          password_stdin: bool = PASSWORD_STDIN, output: Output = OUTPUT, server: str = SERVER):
    """Log in to the service; the token is kept in your config dir (mode 0600) for the other commands."""
    if not username:
        if password_stdin or not sys.stdin.isatty():
            raise UserInputError("give the account name with --username", where="login")
        username = typer.prompt("Username")
    password = _stdin_lines(1)[0] if password_stdin else _ask("Password")
    from ..client import ApiClient

    with ApiClient(server, token="") as api:  # a stale token must not ride along
        answer = api.request("POST", "/api/login", body={"username": username, "password": password})
    path = save_token(answer.pop("token"))
    emit({**answer, "token_file": str(path)}, output,
         lambda a: f"logged in as {a['user']} (role {a['role']}) until {render.fmt_time(a['expires_at'])}")


@app.command()
@report_errors
def logout(output: Output = OUTPUT, server: str = SERVER):
    """Revoke your token on the service and forget it here."""
    path = token_path()
    if not path.exists():
        return emit({"logged_out": None}, output, lambda _: "not logged in")
    answer: dict = {"logged_out": None}
    try:
        with _client(server) as api:
            answer = api.request("POST", "/api/logout")
    except (AuthError, ConnectionFailed) as exc:  # already invalid, or no service: forget it all the same
        err.print(f"note: {exc}")
    path.unlink(missing_ok=True)
    emit(answer, output, lambda a: f"logged out{' ' + a['logged_out'] if a.get('logged_out') else ''}")


@app.command()
@report_errors
def passwd(password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the current, then the "
                                               "new password from stdin (two lines)."),
           output: Output = OUTPUT, server: str = SERVER):
    """Change your own password (your other sessions are logged out)."""
    if password_stdin:
        old, new = _stdin_lines(2)
    else:
        old, new = _ask("Current password"), new_password(False)
    with _client(server) as api:
        answer = api.request("POST", "/api/passwd", body={"old_password": old, "new_password": new})
    emit(answer, output, lambda a: f"password changed; {a['tokens_revoked']} other session(s) logged out")


# -- accounts ----------------------------------------------------------------------------------
def _accounts_table(rows: list[dict]):
    return render._table(["NAME", "ROLE", "CREATED", "UPDATED"],
                         [[a["name"], a["role"], render.fmt_time(a["created_at"]),
                           render.fmt_time(a["updated_at"])] for a in rows])


@accounts_app.command("list")
@report_errors
def accounts_list(output: Output = OUTPUT, server: str = SERVER):
    """Every account and its role."""
    with _client(server) as api:
        emit(api.request("GET", "/api/accounts"), output, _accounts_table)


@accounts_app.command("whoami")
@report_errors
def accounts_whoami(output: Output = OUTPUT, server: str = SERVER):
    """The account you are logged in as."""
    with _client(server) as api:
        emit(api.request("GET", "/api/account"), output,
             lambda a: f"{a['name']} (role {a['role']}), token valid until {render.fmt_time(a['token_expires_at'])}")


@accounts_app.command("add")
@report_errors
def accounts_add(name: str = typer.Argument(..., metavar="NAME"),
                 role: str = typer.Option("user", "--role", help="admin, or user (containers, apps, events, "
                                          "cluster info, reading engines)."),
                 password_stdin: bool = PASSWORD_STDIN, output: Output = OUTPUT, server: str = SERVER):
    """Add an account (its password is asked twice, or read from stdin)."""
    password = new_password(password_stdin, f"Password for {name}")
    with _client(server) as api:
        added = api.request("POST", "/api/accounts", body={"name": name, "password": password, "role": role})
    emit(added, output, lambda a: f"added account {a['name']} (role {a['role']})")


@accounts_app.command("rm")
@report_errors
def accounts_rm(name: str = typer.Argument(..., metavar="NAME"), output: Output = OUTPUT, server: str = SERVER):
    """Delete an account; its tokens stop working at once."""
    with _client(server) as api:
        deleted = api.request("DELETE", f"/api/accounts/{quote(name, safe='')}")
    emit(deleted, output, lambda r: f"deleted account {r['deleted']}")


@accounts_app.command("passwd")
@report_errors
def accounts_passwd(name: str = typer.Argument(..., metavar="NAME"), password_stdin: bool = PASSWORD_STDIN,
                    output: Output = OUTPUT, server: str = SERVER):
    """Set another account's password (admins); that account's sessions end."""
    password = new_password(password_stdin, f"New password for {name}")
    with _client(server) as api:
        answer = api.request("POST", f"/api/accounts/{quote(name, safe='')}/password",
                             body={"password": password})
    emit(answer, output, lambda a: f"password of {a['account']} set; {a['tokens_revoked']} session(s) logged out")
