"""Login defence and API tokens against a real `paasops serve`: backoff, lockout, unlock, events, job tokens."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from test_accounts_api import Cli, Server, login

ADMIN_PW = "admin-Pw-" + os.urandom(6).hex()
BOB_PW = "bob-Pw-" + os.urandom(6).hex()
CAROL_PW = "carol-Pw-" + os.urandom(6).hex()
WRONG = "wrong-Pw-" + os.urandom(6).hex()
LOCK_FOR = 4.0
POLICY = {"PAASOPS_LOGIN_FREE_FAILURES": "3", "PAASOPS_LOGIN_BACKOFF": "1", "PAASOPS_LOGIN_MAX_BACKOFF": "1",
          "PAASOPS_LOGIN_ADDRESS_FREE_FAILURES": "1000", "PAASOPS_LOGIN_LOCK_AFTER": "10",
          "PAASOPS_LOGIN_LOCK_FOR": str(LOCK_FOR)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("login")


@pytest.fixture(scope="module")
def server(workdir):
    server = Server(workdir, "state", env={"PAASOPS_ADMIN_PASSWORD": ADMIN_PW, **POLICY})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(server, workdir) -> Cli:
    cli = Cli(server.url, workdir / "admin-config")
    cli("login", "--username", "admin", "--password-stdin", input=ADMIN_PW + "\n")
    for name, pw in (("bob", BOB_PW), ("carol", CAROL_PW)):
        cli("accounts", "add", name, "--role", "user", "--password-stdin", input=f"{pw}\n{pw}\n")
    return cli


def fail_until_locked(url: str, user: str) -> list[int]:
    """Wrong passwords, waiting out each backoff (Retry-After), until the account is locked."""
    statuses: list[int] = []
    for _ in range(60):
        answer = login(url, user, WRONG)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            if "locked" in answer.json()["error"]:
                return statuses
            time.sleep(float(answer.headers["Retry-After"]))
    raise AssertionError(f"{user} never locked: {statuses}")


def test_thirty_wrong_passwords_then_429_and_the_right_one_refused_until_an_admin_unlocks(server, admin):
    url = server.url
    answers = [login(url, "bob", WRONG) for _ in range(30)]
    statuses = [a.status_code for a in answers]
    assert statuses[:3] == [401] * 3 and 429 in statuses[3:], statuses
    limited = [a for a in answers if a.status_code == 429]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
    assert limited[0].json()["type"] == "RateLimited"
    while login(url, "bob", WRONG).status_code != 401:  # a failure just counted: a 1 s backoff starts now
        time.sleep(0.2)
    assert login(url, "bob", BOB_PW).status_code == 429  # the right password waits out the backoff too
    fail_until_locked(url, "bob")
    locked = login(url, "bob", BOB_PW)
    assert locked.status_code == 429 and "locked" in locked.json()["error"]
    assert int(locked.headers["Retry-After"]) >= 1
    out = admin("accounts", "unlock", "bob").stdout
    assert "lockout lifted" in out
    assert login(url, "bob", BOB_PW).status_code == 200


def test_a_lockout_lapses_by_itself(server, admin):
    url = server.url
    fail_until_locked(url, "carol")
    assert login(url, "carol", CAROL_PW).status_code == 429
    time.sleep(LOCK_FOR + 0.5)
    assert login(url, "carol", CAROL_PW).status_code == 200


def test_login_failed_and_locked_events_never_hold_the_password(server, admin):
    events = admin("events", "-o", "json", "--limit", "500").stdout
    rows = json.loads(events)
    failed = [e for e in rows if e["type"] == "login-failed" and e["data"].get("account") == "bob"]
    assert len(failed) >= 10 and failed[0]["data"]["address"] == "127.0.0.1"
    assert any(e["type"] == "login-locked" and e["data"]["account"] == "bob" for e in rows)
    assert any(e["type"] == "login-unlocked" and e["data"]["account"] == "bob" for e in rows)
    assert WRONG not in events and BOB_PW not in events


def test_api_token_for_a_job(server, admin, workdir):
    url = server.url
    token_file = workdir / "cron.token"
    admin("tokens", "create", "paasops-cron", "--role", "admin", "--route", "GET /api/report",
          "--route", "POST /api/reconcile", "--write", str(token_file))
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    secret = token_file.read_text().strip()
    job = Cli(url, workdir / "job-config")  # never logged in
    job.env["PAASOPS_TOKEN_FILE"] = str(token_file)
    assert job("report", "-o", "json").returncode == 0
    assert job("accounts", "list", ok=False).returncode == 4  # outside the token's routes: 403
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{url}/api/report", headers=headers, timeout=30).status_code == 200
    listed = admin("tokens", "list", "-o", "json").stdout
    assert "paasops-cron" in listed and secret.split(":")[1] not in listed
    admin("tokens", "revoke", "paasops-cron")
    assert httpx.get(f"{url}/api/report", headers=headers, timeout=30).status_code == 401
    assert job("report", "-o", "json", ok=False).returncode == 4


def test_a_user_token_is_no_more_than_the_user_and_a_token_makes_no_tokens(server, admin, workdir):
    url = server.url
    bob = Cli(url, workdir / "bob-config")
    bob("login", "--username", "bob", "--password-stdin", input=BOB_PW + "\n")
    refused = bob("tokens", "create", "up", "--role", "admin", ok=False)
    assert refused.returncode == 4 and "role 'user' only" in refused.stderr
    made = bob("tokens", "create", "bob-job", "--role", "user", "--no-expiry", "-o", "json").stdout
    credential = json.loads(made)["token"]
    job = Cli(url, workdir / "bob-job-config")
    job.env["PAASOPS_TOKEN"] = credential
    assert job("apps", "-o", "json").returncode == 0
    assert job("accounts", "list", ok=False).returncode == 4  # the user role may not
    again = httpx.post(f"{url}/api/tokens", json={"name": "child", "role": "user"},
                       headers={"Authorization": f"Bearer {credential}"}, timeout=30)
    assert again.status_code == 403
    logout = httpx.post(f"{url}/api/logout", headers={"Authorization": f"Bearer {credential}"}, timeout=30)
    assert logout.status_code == 403 and "tokens revoke bob-job" in logout.json()["error"]  # not a session
    listing = json.loads(bob("tokens", "list", "-o", "json").stdout)
    assert [t["name"] for t in listing] == ["bob-job"] and listing[0]["expires_at"] is None
