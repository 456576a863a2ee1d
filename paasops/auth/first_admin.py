"""First start of the service: seed the default roles and create the first admin account."""

from __future__ import annotations

import getpass
import logging
import secrets
import sys
from collections.abc import Callable
from typing import TextIO

from ..errors import UserInputError
from ..store.base import Store
from ..vocabulary import ADMIN_ROLE
from . import passwords
from .acl import DEFAULT_ROLES

log = logging.getLogger(__name__)
ADMIN = "admin"
PASSWORD_ENV = "PAASOPS_ADMIN_PASSWORD"


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
                       stderr: TextIO | None = None, ask: Callable[[str], str] = getpass.getpass) -> bool:
    """With no account in the store, create `admin` (role admin); True if it was created.

    The password is `password` (from PAASOPS_ADMIN_PASSWORD), else asked on the terminal, else
    generated and written once to stderr: the only time it is ever shown.
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
    store.create_account(ADMIN, passwords.hash_password(password), ADMIN_ROLE)
    if generated:
        stderr.write(f"paasops: created the first account '{ADMIN}' (role admin) with the password\n"
                     f"    {password}\n"
                     "  shown this once only: log in with `paasops login -u admin`, then change it with "
                     "`paasops passwd`\n")
        stderr.flush()
    log.info("created the first account %r (role admin)", ADMIN)
    return True
