"""Account operations behind the API: login, logout, add, remove, passwords; each records its event."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimited,
    UserInputError,
)
from ..store.base import Store
from ..store.records import Account
from ..vocabulary import ADMIN_ROLE
from . import passwords
from .limiter import LoginLimiter
from .tokens import Tokens

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
WRONG_LOGIN = "wrong user name or password"
Record = Callable[..., Any]


def view(account: Account) -> dict:
    """What the API shows of an account: never its hash."""
    return {"name": account.name, "role": account.role, "team": account.team, "created_at": account.created_at,
            "updated_at": account.updated_at}


def check_team(team: str | None) -> str | None:
    """A team is named like an account; None or "" is no team."""
    if not team:
        return None
    if not NAME_RE.match(team):
        raise UserInputError("letters, digits, '_', '.' and '-', starting with a letter or '_' (at most 64)",
                             where="team")
    return team


class Accounts:
    def __init__(self, store: Store, tokens: Tokens, record: Record, limiter: LoginLimiter | None = None):
        self.store = store
        self.tokens = tokens
        self.record = record  # Cluster.record(type, user=..., message=..., data=...)
        self.limiter = limiter or LoginLimiter()
        self._limiting = threading.Lock()  # the limiter is pure: requests take turns with it

    # -- sessions ------------------------------------------------------------------------
    def login(self, name: str, password: str, address: str = "unknown") -> dict:
        with self._limiting:
            verdict = self.limiter.check(name, address)
        if not verdict.allowed:
            raise RateLimited(f"{verdict.reason}: try again in {verdict.retry_after:.0f} s",
                              retry_after=verdict.retry_after, where="login")
        account = self.store.get_account(name)
        if account is None:
            passwords.spend_verify_time(password)
            self._failed(name, address)
        elif not passwords.verify_password(account.password_hash, password):
            self._failed(name, address)
        with self._limiting:
            self.limiter.succeeded(name, address)
        if passwords.needs_rehash(account.password_hash):
            self.store.update_password(name, passwords.hash_password(password))
        self.tokens.purge_expired()
        credential, token = self.tokens.issue(name)
        self.record("login", user=name, message=f"{name} logged in")
        return {"token": credential, "user": name, "role": account.role, "expires_at": token.expires_at}

    def _failed(self, name: str, address: str) -> NoReturn:
        """Count the failure, record it (never the password), lock the account when it is one too many."""
        with self._limiting:
            locked = self.limiter.failed(name, address)
            lock_for = self.limiter.locked_for(name)
        where = {"account": name, "address": address}
        self.record("login-failed", user=name, message=f"failed login for {name} from {address}", data=where)
        if locked:
            self.record("login-locked", user=name, message=f"{name} locked for {lock_for:.0f} s after "
                        f"{self.limiter.policy.lock_after} failed logins", data={**where, "seconds": lock_for})
        raise AuthError(WRONG_LOGIN, where="login")

    def unlock(self, name: str, *, by: str) -> dict:
        """An admin lifts an account's lockout and backoff."""
        with self._limiting:
            was_locked = self.limiter.locked_for(name) > 0
            lifted = self.limiter.unlock(name)
        if lifted:
            self.record("login-unlocked", user=by, message=f"{by} lifted the login lockout of {name}",
                        data={"account": name, "was_locked": was_locked})
        return {"account": name, "unlocked": lifted, "was_locked": was_locked}

    def logout(self, name: str, token_hash: str) -> dict:
        self.tokens.revoke(token_hash)
        self.record("logout", user=name, message=f"{name} logged out")
        return {"logged_out": name}

    # -- accounts ------------------------------------------------------------------------
    def list(self) -> list[dict]:
        return [view(a) for a in self.store.list_accounts()]

    def get(self, name: str) -> dict:
        return view(self._account(name))

    def add(self, name: str, password: str, role: str, *, by: str, team: str | None = None) -> dict:
        if not NAME_RE.match(name):
            raise UserInputError("letters, digits, '_', '.' and '-', starting with a letter or '_' (at most 64)",
                                 where="name")
        passwords.check_strength(password)
        if self.store.get_role(role) is None:
            known = ", ".join(r.name for r in self.store.list_roles())
            raise UserInputError(f"no role {role!r} (roles: {known})", where="role")
        team = check_team(team)
        account = self.store.create_account(name, passwords.hash_password(password), role, team)
        self.record("add-account", user=by, message=f"account {name} added (role {role}"
                    + (f", team {team})" if team else ")"), data={"account": name, "role": role, "team": team})
        return view(account)

    def set_team(self, name: str, team: str | None, *, by: str) -> dict:
        """An admin moves an account into `team` (None: out of any); its new apps are shared with that team."""
        self._account(name)
        team = check_team(team)
        account = self.store.set_team(name, team)
        self.record("update-account", user=by, message=f"account {name} " + (f"now in team {team}" if team
                    else "in no team"), data={"account": name, "team": team})
        return view(account)

    def remove(self, name: str, *, by: str) -> dict:
        account = self._account(name)
        admins = [a.name for a in self.store.list_accounts() if a.role == ADMIN_ROLE]
        if account.role == ADMIN_ROLE and admins == [name]:
            raise ConflictError(f"{name!r} is the last admin account: add another admin first",
                                where="accounts")
        owned = [a.name for a in self.store.list_apps() if a.owner == name]
        if owned:  # a new account of that name would inherit them (and their containers' owner labels)
            raise ConflictError(f"{name!r} still owns apps {', '.join(owned)}: remove them first "
                                f"(`paasops apps rm APP`)", where="accounts")
        self.store.delete_account(name)
        self.tokens.revoke_user(name)  # the store does too; said here so no backend can forget it
        for job in self.store.list_api_tokens(name):  # a new account of that name must not inherit them
            self.store.delete_api_token(job.name)
        self.record("delete-account", user=by, message=f"account {name} deleted", data={"account": name})
        return {"deleted": name}

    # -- passwords -----------------------------------------------------------------------
    def set_password(self, name: str, password: str, *, by: str) -> dict:
        """An admin sets another account's password: every session of that account ends."""
        self._account(name)
        passwords.check_strength(password)
        self.store.update_password(name, passwords.hash_password(password))
        revoked = self.tokens.revoke_user(name)
        self.record("change-password", user=by, message=f"password of {name} set by {by}",
                    data={"account": name, "tokens_revoked": revoked})
        return {"account": name, "tokens_revoked": revoked}

    def change_own(self, name: str, old: str, new: str, *, keep_token_hash: str) -> dict:
        """Self-service: the old password proves it is you; your other sessions end, this one stays."""
        account = self._account(name)
        if not passwords.verify_password(account.password_hash, old):
            raise ForbiddenError("the current password is wrong", where="passwd")
        passwords.check_strength(new, where="new_password")
        self.store.update_password(name, passwords.hash_password(new))
        revoked = self.tokens.revoke_user(name, keep=keep_token_hash)
        self.record("change-password", user=name, message=f"{name} changed their password",
                    data={"account": name, "tokens_revoked": revoked})
        return {"account": name, "tokens_revoked": revoked}

    def _account(self, name: str) -> Account:
        account = self.store.get_account(name)
        if account is None:
            raise NotFoundError(f"no account {name!r}", where="accounts")
        return account
