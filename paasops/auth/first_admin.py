"""First start of the service: seed the default roles and create the first admin account."""

from __future__ import annotations

import getpass
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..errors import UserInputError
from ..store.base import Store
from ..vocabulary import ADMIN_ROLE
from . import passwords
from .acl import DEFAULT_ROLES

log = logging.getLogger(__name__)
ADMIN = "admin"
PASSWORD_ENV = "PAASOPS_ADMIN_PASSWORD"
PASSWORD_FILE = "first-admin-password"  # beside the state: a generated password when serve has no terminal


def seed_roles(store: Store) -> list[str]:
    """Put the default roles that are missing (a role an admin changed stays as it is)."""
    added = []
    for name, paths in DEFAULT_ROLES.items():
        if store.get_role(name) is None:
            store.put_role(name, paths)
            added.append(name)
    return added


def _prompt(ask: Callable[[str], str]) -> str:
    for _ in range(3):
        first = ask(f"password for the first paasops account '{ADMIN}': ")
        if len(first) < passwords.MIN_LENGTH:
            continue
        if ask("again: ") == first:
            return first
    raise UserInputError(f"no password given twice alike (at least {passwords.MIN_LENGTH} characters)",
                         where="first admin")


def ensure_first_admin(store: Store, password: str | None = None, *, stdin: TextIO | None = None,
                       stderr: TextIO | None = None, ask: Callable[[str], str] = getpass.getpass,
                       password_file: Path | None = None) -> bool:
    """With no account in the store, create `admin` (role admin); True if it was created.

    The password is `password` (from PAASOPS_ADMIN_PASSWORD), else asked on the terminal, else
    generated and shown once, never in a log: on stderr when it is a terminal, else written (0600) to
    `password_file`, whose path alone is logged.
    """
    if store.list_accounts():
        return False
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    generated = False
    if password:
        passwords.check_strength(password, where=PASSWORD_ENV)
    elif stdin is not None and stdin.isatty():
        password = _prompt(ask)
    else:
        password, generated = secrets.token_urlsafe(18), True
    if generated and not stderr.isatty() and password_file is None:
        raise UserInputError(f"no terminal to show a generated password on: set {PASSWORD_ENV}",
                             where="first admin")
    store.create_account(ADMIN, passwords.hash_password(password), ADMIN_ROLE)
    log.info("created the first account %r (role admin)", ADMIN)
    if not generated:
        return True
    if stderr.isatty():
        stderr.write(f"paasops: created the first account '{ADMIN}' (role admin) with the password\n"
                     f"    {password}\n"
                     "  shown this once only: log in with `paasops login -u admin`, then change it with "
                     "`paasops passwd`\n")
        stderr.flush()
    else:
        assert password_file is not None
        write_secret_file(password_file, password + "\n")
        log.warning("the first account %r got a generated password, written (mode 0600) to %s: log in with it, "
                    "change it with `paasops passwd`, then delete the file", ADMIN, password_file)
    return True


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to a new file only its owner can read (an old file or link there is replaced, not followed)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
