"""Accounts and the ACL against a real `paasops serve --local-engine`: login, tokens, roles, traversal, secrets."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paasops.auth.tokens import hash_token
from paasops.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PW = "admin-Pw-" + os.urandom(6).hex()
BOB_PW = "bob-Pw-" + os.urandom(6).hex()
BOB_PW2 = "bob-Pw2-" + os.urandom(6).hex()
BOB_PW3 = "bob-Pw3-" + os.urandom(6).hex()
SECRETS: list[str] = [ADMIN_PW, BOB_PW, BOB_PW2, BOB_PW3]  # plus every token secret handed out below


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}


class Server:
    """`paasops serve` in a subprocess; stdout and stderr go to one log file."""

    def __init__(self, workdir: Path, name: str, *args: str, env: dict | None = None):
        self.port, self.state, self.log = free_port(), workdir / f"{name}.db", workdir / f"{name}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "paasops", "serve", "--port", str(self.port), "--state",
                 f"sqlite:///{self.state}", *args], cwd=ROOT, env={**clean_env(), **(env or {})},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not come up:\n" + self.log.read_text())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Cli:
    """The real `paasops` command, with its own config dir (where `login` keeps the token)."""

    def __init__(self, server: str, config: Path):
        self.config = config
        self.env = {**clean_env(), "PAASOPS_SERVER": server, "XDG_CONFIG_HOME": str(config), "COLUMNS": "200"}

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True, text=True,
                              input=input, timeout=120, cwd=ROOT, env=self.env)
        if ok and done.returncode != 0:
            raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    @property
    def token_file(self) -> Path:
        return self.config / "paasops" / "token"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("accounts")


@pytest.fixture(scope="module")
def server(workdir):
    server = Server(workdir, "state", "--local-engine", env={"PAASOPS_ADMIN_PASSWORD": ADMIN_PW})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def url(server) -> str:
    return server.url


@pytest.fixture(scope="module")
def admin(server, workdir) -> Cli:
    cli = Cli(server.url, workdir / "admin-config")
    cli("login", "--username", "admin", "--password-stdin", input=ADMIN_PW + "\n")
    SECRETS.append(cli.token_file.read_text().strip().split(":")[1])
    return cli


def login(url: str, user: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/login", json={"username": user, "password": password}, timeout=30)


def token_of(url: str, user: str, password: str) -> str:
    answer = login(url, user, password)
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    SECRETS.append(token.split(":")[1])
    return token


def get(url: str, path: str, token: str | None = None, method: str = "GET", **kw) -> httpx.Response:
    headers = {"X-Access-Token": token} if token else {}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=30, **kw)


def raw(url: str, method: str, path: str, token: str) -> int:
    """Send the path exactly as written (httpx would resolve '..' before sending)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


# -- without a token -------------------------------------------------------------------------------------
def test_no_token_is_401_and_only_login_health_and_openapi_are_open(url):
    for method, path in (("GET", "/api/containers"), ("GET", "/api/engines"), ("GET", "/api/accounts"),
                         ("POST", "/api/logout"), ("GET", "/api/account"), ("GET", "/api/events")):
        answer = get(url, path, method=method)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["type"] == "AuthError" and "paasops login" in answer.json()["error"]
    assert get(url, "/api/containers", "admin:" + "x" * 43).status_code == 401
    assert get(url, "/healthz").status_code == 200
    assert "/api/login" in get(url, "/openapi.json").json()["paths"]


def test_login_wrong_password_or_user_is_one_401(url):
    wrong_pw, no_user = login(url, "admin", "not-the-password"), login(url, "nobody", "not-the-password")
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json() == no_user.json() == {"error": "login: wrong user name or password", "type": "AuthError"}


def test_cli_login_keeps_the_token_0600_and_never_prints_it(admin, url):
    token = admin.token_file.read_text().strip()
    assert token.startswith("admin:")
    assert stat.S_IMODE(admin.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(admin.token_file.parent.stat().st_mode) == 0o700
    me = json.loads(admin("accounts", "whoami", "-o", "json").stdout)
    assert (me["name"], me["role"]) == ("admin", "admin") and me["token_expires_at"] > time.time() + 11 * 3600
    again = admin("login", "-u", "admin", "--password-stdin", input=ADMIN_PW + "\n")
    assert "logged in as admin (role admin)" in again.stdout
    assert admin.token_file.read_text().strip() not in again.stdout + again.stderr
    SECRETS.append(admin.token_file.read_text().strip().split(":")[1])
    bad = admin("login", "-u", "admin", "--password-stdin", input="wrong-password\n", ok=False)
    assert bad.returncode == 4 and "wrong user name or password" in bad.stderr


def test_admin_adds_a_user_who_uses_containers_but_not_accounts_or_engine_changes(admin, url):
    added = admin("accounts", "add", "bob", "--role", "user", "--password-stdin", input=BOB_PW + "\n")
    assert "added account bob (role user)" in added.stdout
    listed = json.loads(admin("accounts", "list", "-o", "json").stdout)
    assert [(a["name"], a["role"]) for a in listed] == [("admin", "admin"), ("bob", "user")]
    assert all("password_hash" not in a for a in listed)
    bob = token_of(url, "bob", BOB_PW)
    assert get(url, "/api/containers", bob).status_code == 200
    bearer = httpx.get(f"{url}/api/containers", headers={"Authorization": f"Bearer {bob}"}, timeout=30)
    assert bearer.status_code == 200
    bare = httpx.get(f"{url}/api/cluster/info", headers={"Authorization": f"Bearer {bob.split(':')[1]}"},
                     timeout=30)
    assert bare.status_code == 200
    for path in ("/api/events", "/api/apps", "/api/engines", "/api/engines/local", "/api/account"):
        assert get(url, path, bob).status_code == 200, path
    denied = get(url, "/api/accounts", bob)
    assert denied.status_code == 403 and denied.json()["error"] == "role 'user' may not GET /api/accounts"
    assert get(url, "/api/engines", bob, method="POST", json={"address": "192.0.2.9"}).status_code == 403
    assert get(url, "/api/engines/local", bob, method="DELETE").status_code == 403
    assert get(url, "/api/accounts", bob, method="POST",
               json={"name": "eve", "password": "eve-password", "role": "admin"}).status_code == 403
    assert get(url, "/api/accounts/admin", bob, method="DELETE").status_code == 403
    assert get(url, "/api/accounts/admin/password", bob, method="POST",
               json={"password": "taken-over-1"}).status_code == 403
    bob_cli = Cli(url, admin.config.parent / "bob-config")
    bob_cli("login", "-u", "bob", "--password-stdin", input=BOB_PW + "\n")
    SECRETS.append(bob_cli.token_file.read_text().strip().split(":")[1])
    done = bob_cli("accounts", "list", ok=False)
    assert done.returncode == 4 and "role 'user' may not GET /api/accounts" in done.stderr
    assert bob_cli("ps", "-o", "json").returncode == 0
    assert login(url, "admin", ADMIN_PW).status_code == 200  # bob's failures changed nothing for admin


@pytest.mark.parametrize("method, path, must_be", [
    ("GET", "/api/containers/../accounts", {403, 404}),
    ("GET", "/api/containers/%2e%2e/accounts", {403, 404}),
    ("GET", "/api/containers/..%2Faccounts", {403, 404}),
    ("GET", "/api/containers/%2e%2e", {403}),             # routed as container '..': the ACL reads /api
    ("GET", "/api/containers/%2E%2E/logs", {403}),        # container '..' logs: the ACL reads /api/logs
    ("POST", "/api/containers/%2e%2e/stop", {403}),
    ("POST", "/api/accounts/%2e%2e/password", {403}),     # routed to accounts/{name}: never for a user
    ("GET", "/api/accounts/..%2Fcontainers", {403, 404}),
    ("DELETE", "/api/accounts/%2e%2e", {403}),
    ("GET", "/API/accounts", {403, 404}),
    ("GET", "/api//accounts", {403, 404}),
    ("GET", "/api/containersX", {403, 404}),
    ("POST", "/api/engines/", {403, 404, 307}),
])
def test_traversal_attempts_are_denied(url, admin, method, path, must_be):
    bob = token_of(url, "bob", BOB_PW)
    assert raw(url, method, path, bob) in must_be


def test_an_expired_token_is_401(url, server):
    secret = "expired-" + os.urandom(16).hex()
    with SqliteStore(server.state) as store:  # the service's own file: a token that ended a second ago
        store.put_token("bob", hash_token(secret), time.time() - 1)
        store.put_token("bob", hash_token(secret + "-live"), time.time() + 60)
    answer = get(url, "/api/containers", f"bob:{secret}")
    assert answer.status_code == 401 and "invalid or expired token" in answer.json()["error"]
    assert get(url, "/api/containers", f"bob:{secret}-live").status_code == 200


def test_password_change_revokes_the_other_tokens(url, admin):
    first, second = token_of(url, "bob", BOB_PW), token_of(url, "bob", BOB_PW)
    wrong = get(url, "/api/passwd", first, method="POST", json={"old_password": "nope-nope",
                                                               "new_password": BOB_PW2})
    assert wrong.status_code == 403 and get(url, "/api/containers", second).status_code == 200
    short = get(url, "/api/passwd", first, method="POST", json={"old_password": BOB_PW, "new_password": "short"})
    assert short.status_code == 400 and "short" not in short.text.replace("at least", "")
    changed = get(url, "/api/passwd", first, method="POST", json={"old_password": BOB_PW, "new_password": BOB_PW2})
    assert changed.status_code == 200 and changed.json()["tokens_revoked"] >= 1
    assert get(url, "/api/containers", first).status_code == 200  # the session that changed it stays
    assert get(url, "/api/containers", second).status_code == 401
    assert login(url, "bob", BOB_PW).status_code == 401 and login(url, "bob", BOB_PW2).status_code == 200
    # an admin sets it: every session of bob ends
    set_by_admin = json.loads(admin("accounts", "passwd", "bob", "--password-stdin", "-o", "json",
                                    input=BOB_PW3 + "\n").stdout)
    assert set_by_admin["account"] == "bob" and set_by_admin["tokens_revoked"] >= 1
    assert get(url, "/api/containers", first).status_code == 401
    assert login(url, "bob", BOB_PW2).status_code == 401 and login(url, "bob", BOB_PW3).status_code == 200


def test_own_password_with_the_cli(url, workdir):
    carl = Cli(url, workdir / "carl-config")
    admin_token = token_of(url, "admin", ADMIN_PW)
    assert get(url, "/api/accounts", admin_token, method="POST",
               json={"name": "carl", "password": BOB_PW, "role": "user"}).status_code == 201
    carl("login", "-u", "carl", "--password-stdin", input=BOB_PW + "\n")
    done = carl("passwd", "--password-stdin", input=f"{BOB_PW}\n{BOB_PW2}\n")
    assert "password changed" in done.stdout
    assert carl("accounts", "whoami").returncode == 0  # still logged in
    assert login(url, "carl", BOB_PW2).status_code == 200


def test_logout_revokes_the_token_and_forgets_it(url, workdir):
    dave = Cli(url, workdir / "dave-config")
    admin_token = token_of(url, "admin", ADMIN_PW)
    get(url, "/api/accounts", admin_token, method="POST", json={"name": "dave", "password": BOB_PW, "role": "user"})
    dave("login", "-u", "dave", "--password-stdin", input=BOB_PW + "\n")
    token = dave.token_file.read_text().strip()
    SECRETS.append(token.split(":")[1])
    assert get(url, "/api/account", token).status_code == 200
    assert "logged out dave" in dave("logout").stdout
    assert not dave.token_file.exists()
    assert get(url, "/api/account", token).status_code == 401
    assert dave("ps", ok=False).returncode == 4


def test_admin_removes_accounts_and_their_tokens_stop_working(url, admin):
    bob = token_of(url, "bob", BOB_PW3)
    assert "deleted account bob" in admin("accounts", "rm", "bob").stdout
    assert get(url, "/api/containers", bob).status_code == 401
    assert login(url, "bob", BOB_PW3).status_code == 401
    assert "bob" not in [a["name"] for a in json.loads(admin("accounts", "list", "-o", "json").stdout)]
    assert admin("accounts", "rm", "bob", ok=False).returncode == 3
    last = admin("accounts", "rm", "admin", ok=False)
    assert last.returncode == 2 and "last admin" in last.stderr
    bad = admin("accounts", "add", "x y", "--password-stdin", input=BOB_PW + "\n", ok=False)
    assert bad.returncode == 2
    no_role = admin("accounts", "add", "zed", "--role", "root", "--password-stdin", input=BOB_PW + "\n", ok=False)
    assert no_role.returncode == 2 and "no role 'root'" in no_role.stderr


def test_events_record_account_operations_without_secrets(url, admin, server):
    events = json.loads(admin("events", "--tag", "api", "--limit", "1000", "-o", "json").stdout)
    kinds = [e["type"] for e in events]
    for kind in ("add-account", "delete-account", "change-password", "login", "logout"):
        assert kind in kinds, kind
    assert {e["user"] for e in events if e["type"] == "login"} >= {"admin", "bob", "carl", "dave"}
    deleted = next(e for e in events if e["type"] == "delete-account")
    assert (deleted["user"], deleted["data"]["account"]) == ("admin", "bob")
    with SqliteStore(server.state) as store:
        stored = json.dumps([e.__dict__ for e in store.list_events(limit=None)])
    log = server.log.read_text()
    assert len(SECRETS) > 8
    for secret in SECRETS:
        assert secret not in stored, "a secret in the stored events"
        assert secret not in log, "a secret in the service log"
        assert secret not in json.dumps(events)


def test_the_sqlite_file_holds_argon2id_hashes_and_no_secret(server):
    db = sqlite3.connect(f"file:{server.state}?mode=ro", uri=True)
    try:
        hashes = dict(db.execute("SELECT name, password_hash FROM accounts").fetchall())
        token_hashes = [r[0] for r in db.execute("SELECT token_hash FROM tokens")]
    finally:
        db.close()
    assert set(hashes) >= {"admin", "carl", "dave"}
    assert all(re.match(r"^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$", h) for h in hashes.values())
    assert token_hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in token_hashes)
    blob = b"".join(p.read_bytes() for p in server.state.parent.glob(server.state.name + "*"))
    for secret in SECRETS:
        assert secret.encode() not in blob


def test_first_start_without_a_password_prints_a_generated_one_once(workdir):
    server = Server(workdir, "fresh")
    try:
        log = server.log.read_text()
        files = re.findall(r"written \(mode 0600\) to (\S+):", log)
        assert files == [str(workdir / "first-admin-password")]
        assert Path(files[0]).stat().st_mode & 0o777 == 0o600
        shown = [Path(files[0]).read_text().strip()]
        assert shown[0] not in log  # the password itself is never in the log
        assert login(server.url, "admin", shown[0]).status_code == 200
    finally:
        server.stop()
    again = Server(workdir, "fresh")  # the same state: the account exists, nothing is shown again
    try:
        assert server.log.read_text().count("written (mode 0600)") == 1
        assert login(again.url, "admin", shown[0]).status_code == 200
    finally:
        again.stop()
