"""`paasops login`, `logout` and `passwd`: your session with the service's API, and reading passwords."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer

from ...errors import AuthError, ConnectionFailed, UserInputError
from ..common import OUTPUT, SERVER, Output, api_client, emit, err
from ..errors import report_errors

app = typer.Typer()
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from stdin (one line).")


# -- the token file ----------------------------------------------------------------------------
def token_path() -> Path:
    from ...client import config_dir

    return config_dir() / "token"


def save_token(credential: str, path: Path | None = None) -> Path:
    """Write the token readable by its owner only (file 0600; the config dir 0700), atomically."""
    if path is None:
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
def stdin_lines(n: int) -> list[str]:
    """`n` non-empty lines from stdin (--password-stdin)."""
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(n)]
    if not all(lines):
        raise UserInputError(f"expected {n} non-empty line(s) on stdin", where="--password-stdin")
    return lines


def ask(prompt: str, confirm: bool = False) -> str:
    """A password typed on the terminal (hidden; twice with `confirm`); no terminal is an error."""
    if not sys.stdin.isatty():
        raise UserInputError("no terminal to ask on: pipe it in with --password-stdin", where="password")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def new_password(stdin: bool, prompt: str = "New password") -> str:
    """A new password: one line of stdin, or asked twice on the terminal."""
    return stdin_lines(1)[0] if stdin else ask(prompt, confirm=True)


# -- sessions ----------------------------------------------------------------------------------
@app.command()
@report_errors
def login(username: str = typer.Option(None, "--username", "-u", help="Account name (asked if not given)."),
          password_stdin: bool = PASSWORD_STDIN, output: Output = OUTPUT, server: str = SERVER):
    """Log in to the service; the token is kept in your config dir (mode 0600) for the other commands."""
    from ...client import ApiClient
    from ..formats import fmt_time

    if not username:
        if password_stdin or not sys.stdin.isatty():
            raise UserInputError("give the account name with --username", where="login")
        username = typer.prompt("Username")
    password = stdin_lines(1)[0] if password_stdin else ask("Password")
    with ApiClient(server, token="") as api:  # a stale token must not ride along
        answer = api.request("POST", "/api/login", body={"username": username, "password": password})
    path = save_token(answer.pop("token"))
    emit({**answer, "token_file": str(path)}, output,
         lambda a: f"logged in as {a['user']} (role {a['role']}) until {fmt_time(a['expires_at'])}")


@app.command()
@report_errors
def logout(output: Output = OUTPUT, server: str = SERVER):
    """Revoke your token on the service and forget it here."""
    path = token_path()
    if not path.exists():
        return emit({"logged_out": None}, output, lambda _: "not logged in")
    answer: dict = {"logged_out": None}
    try:
        with api_client(server) as api:
            answer = api.request("POST", "/api/logout")
    except (AuthError, ConnectionFailed) as exc:  # already invalid, or no service: forget it all the same
        err().print(f"note: {exc}")
    path.unlink(missing_ok=True)
    emit(answer, output, lambda a: f"logged out{' ' + a['logged_out'] if a.get('logged_out') else ''}")


@app.command()
@report_errors
def passwd(password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the current, then the "
                                               "new password from stdin (two lines)."),
           output: Output = OUTPUT, server: str = SERVER):
    """Change your own password (your other sessions are logged out)."""
    if password_stdin:
        old, new = stdin_lines(2)
    else:
        old, new = ask("Current password"), new_password(False)
    with api_client(server) as api:
        answer = api.request("POST", "/api/passwd", body={"old_password": old, "new_password": new})
    emit(answer, output, lambda a: f"password changed; {a['tokens_revoked']} other session(s) logged out")
