"""/api/login, /api/logout, /api/passwd, /api/account (who am I) and /api/accounts (admins manage accounts)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ...auth import passwords
from ...auth.passwords import MAX_LENGTH, MIN_LENGTH
from ...errors import AuthError, ForbiddenError, RateLimited
from ...results import (
    AccountDeleted,
    AccountView,
    LoggedOut,
    LoginResult,
    LoginUnlocked,
    PasswordChanged,
    WhoAmI,
)
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["accounts"])
Password = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class LoginIn(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class AccountIn(_Body):
    name: str = Field(min_length=1, max_length=64)
    password: str = Password
    role: str = "user"
    team: str | None = Field(None, max_length=64, description="Its members share the apps each of them deploys.")


class AccountUpdateIn(_Body):
    team: str | None = Field(max_length=64, description="The account's team; null or \"\": none.")


class PasswordIn(_Body):
    password: str = Password


class PasswdIn(_Body):
    old_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Password


def _token(request: Request):
    """The token the caller authenticated with (the authenticator keeps it on the request)."""
    token = getattr(request.state, "token", None)
    if token is None:
        raise AuthError("this request carries no token of an account: log in with `paasops login`")
    return token


def _session(request: Request, caller) -> str:
    """The hash of the caller's login session; a job's API token has none to end or keep."""
    if caller.token is not None:
        raise ForbiddenError(f"this is API token {caller.token!r}, not a login session: revoke it with "
                             f"`paasops tokens revoke {caller.token}`", where=request.url.path)
    return _token(request).token_hash


def _login_gate(request: Request) -> asyncio.Semaphore | None:
    """As many logins at once as argon2 hashes may run: the others wait here, in the event loop, not in
    a worker thread, so a login flood never takes the threads every other route needs."""
    limit = passwords.concurrency()
    gate = getattr(request.app.state, "login_gate", None)
    if limit and (gate is None or request.app.state.login_gate_limit != limit):
        gate = request.app.state.login_gate = asyncio.Semaphore(limit)
        request.app.state.login_gate_limit = limit
    return gate if limit else None


@router.post("/login", response_model=LoginResult,
             responses={429: {"description": "too many failed logins (backoff or lockout), or too many logins "
                                             "at once: see Retry-After"}})
async def login(body: LoginIn, request: Request, service: Service) -> dict:
    """User name and password -> a token `user:TOKEN` for `X-Access-Token` or `Authorization: Bearer`.

    Failed logins back off per account and per client address, and lock the account after repeated
    failures (429 with Retry-After); an admin lifts a lockout with POST /api/accounts/{name}/unlock.
    """
    address = request.client.host if request.client else "unknown"
    gate = _login_gate(request)
    if gate is None:
        return await run_in_threadpool(service.accounts.login, body.username, body.password, address)
    try:
        await asyncio.wait_for(gate.acquire(), passwords.WAIT)
    except TimeoutError:
        raise RateLimited("too many logins at once: try again shortly", retry_after=1.0, where="login") from None
    try:
        return await run_in_threadpool(service.accounts.login, body.username, body.password, address)
    finally:
        gate.release()


@router.post("/logout", response_model=LoggedOut)
def logout(request: Request, service: Service, caller: Caller) -> dict:
    """Revoke the token this request carries."""
    return service.accounts.logout(caller.name, _session(request, caller))


@router.post("/passwd", response_model=PasswordChanged)
def passwd(body: PasswdIn, request: Request, service: Service, caller: Caller) -> dict:
    """Change your own password; your other tokens are revoked, this one stays."""
    return service.accounts.change_own(caller.name, body.old_password, body.new_password,
                                       keep_token_hash=_session(request, caller))


@router.get("/account", response_model=WhoAmI)
def whoami(request: Request, service: Service, caller: Caller) -> dict:
    """The calling account and when its token expires."""
    return {**service.accounts.get(caller.name), "token_expires_at": _token(request).expires_at}


@router.get("/accounts", response_model=list[AccountView])
def list_accounts(service: Service, caller: Caller) -> list[dict]:
    return service.accounts.list()


@router.post("/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountView)
def add_account(body: AccountIn, service: Service, caller: Caller) -> dict:
    return service.accounts.add(body.name, body.password, body.role, by=caller.name, team=body.team)


@router.get("/accounts/{name}", response_model=AccountView)
def get_account(name: str, service: Service, caller: Caller) -> dict:
    return service.accounts.get(name)


@router.patch("/accounts/{name}", response_model=AccountView)
def update_account(name: str, body: AccountUpdateIn, service: Service, caller: Caller) -> dict:
    """Put an account in a team (or in none): the apps it deploys from now on are its team's too."""
    return service.accounts.set_team(name, body.team, by=caller.name)


@router.delete("/accounts/{name}", response_model=AccountDeleted)
def delete_account(name: str, service: Service, caller: Caller) -> dict:
    """Delete an account and revoke its tokens (the last admin cannot go)."""
    return service.accounts.remove(name, by=caller.name)


@router.post("/accounts/{name}/password", response_model=PasswordChanged)
def set_password(name: str, body: PasswordIn, service: Service, caller: Caller) -> dict:
    """Set another account's password; its tokens are revoked."""
    return service.accounts.set_password(name, body.password, by=caller.name)


@router.post("/accounts/{name}/unlock", response_model=LoginUnlocked)
def unlock(name: str, service: Service, caller: Caller) -> dict:
    """Lift an account's login lockout and backoff."""
    return service.accounts.unlock(name, by=caller.name)
