"""Long-lived API tokens for jobs: named, scoped to a role (no more than the creator's) and optionally fewer routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ForbiddenError, NotFoundError, UserInputError
from ..store.base import Store
from ..store.records import Account, ApiToken
from ..vocabulary import ADMIN_ROLE
from . import acl
from .accounts import NAME_RE
from .principal import Principal
from .tokens import hash_token, new_secret, split_credential

DEFAULT_DAYS = 365.0
DAY = 86400.0
MAX_ROUTES = 32
Record = Callable[..., Any]


def view(token: ApiToken) -> dict:
    """What the API shows of an API token: never its secret, nor its hash."""
    return {"name": token.name, "user": token.user, "role": token.role, "routes": list(token.routes),
            "expires_at": token.expires_at, "created_at": token.created_at}


def may_grant(account_role: str, role: str) -> bool:
    """A token's role is no more than its creator's: an admin may grant any role, anyone else only their own."""
    return account_role == ADMIN_ROLE or role == account_role


def check_routes(routes: list[str]) -> list[str]:
    """Each route is an ACL rule ('METHOD PATH' or 'PATH'); a token's routes only narrow its role."""
    if len(routes) > MAX_ROUTES:
        raise UserInputError(f"at most {MAX_ROUTES} routes", where="routes")
    for rule in routes:
        try:
            acl.parse_rule(rule)
        except ValueError as exc:
            raise UserInputError(str(exc), where="routes") from None
    return list(routes)


class ApiTokens:
    """Create, find, list and revoke API tokens; each change records its event."""

    def __init__(self, store: Store, record: Record, clock: Callable[[], float] = time.time):
        self.store = store
        self.record = record
        self.clock = clock

    def create(self, name: str, *, role: str, by: Principal, routes: list[str] | None = None,
               expires_days: float | None = DEFAULT_DAYS) -> dict:
        """A new token: the answer carries its secret (`user:TOKEN`), the only time it is ever shown."""
        if not NAME_RE.match(name):
            raise UserInputError("letters, digits, '_', '.' and '-', starting with a letter or '_' (at most 64)",
                                 where="name")
        if self.store.get_role(role) is None:
            raise UserInputError(f"no role {role!r}", where="role")
        if not may_grant(by.role, role):
            raise ForbiddenError(f"a {by.role!r} account may create tokens of role {by.role!r} only", where="role")
        if expires_days is not None and expires_days <= 0:
            raise UserInputError("must be a positive number of days (or none for no expiry)", where="expires_days")
        secret = new_secret()
        expires_at = None if expires_days is None else self.clock() + expires_days * DAY
        token = self.store.put_api_token(ApiToken(name, hash_token(secret), by.name, role,
                                                  check_routes(routes or []), expires_at))
        self.record("add-api-token", user=by.name, message=f"API token {name} (role {role}) created by {by.name}",
                    data={"token": name, "role": role, "routes": token.routes, "expires_at": expires_at})
        return {**view(token), "token": f"{by.name}:{secret}"}

    def lookup(self, credential: str) -> ApiToken | None:
        """The live API token a credential names; None if unknown, expired, or named with another user."""
        user, secret = split_credential(credential)
        if not secret:
            return None
        token = self.store.find_api_token(hash_token(secret), now=self.clock())
        if token is None or (user is not None and user != token.user):
            return None
        return token

    def still_granted(self, token: ApiToken, account: Account) -> bool:
        """A token stops working when its creator may no longer grant its role (e.g. demoted from admin)."""
        return may_grant(account.role, token.role)

    def list(self, caller: Principal) -> list[dict]:
        """An admin sees every token, anyone else their own."""
        user = None if caller.role == ADMIN_ROLE else caller.name
        return [view(t) for t in self.store.list_api_tokens(user)]

    def revoke(self, name: str, *, by: Principal) -> dict:
        token = next((t for t in self.store.list_api_tokens() if t.name == name), None)
        if token is None or (by.role != ADMIN_ROLE and token.user != by.name):
            raise NotFoundError(f"no API token {name!r}", where="tokens")
        self.store.delete_api_token(name)
        self.record("revoke-api-token", user=by.name, message=f"API token {name} revoked by {by.name}",
                    data={"token": name, "owner": token.user})
        return {"revoked": name}
