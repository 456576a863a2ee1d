"""Release history and rollback against a real `serve --local-engine` (SQLite state, and RethinkDB under
its marker), its dockerd and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import rethinkdb_support
from lab_support import api_call, api_login, hello_engine, local_engine_up, local_service

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:6]
APPS = {"sqlite": f"hist-sql-{RUN}", "rethinkdb": f"hist-rdb-{RUN}"}  # one per state: the engine is shared
ADMIN_PW = "hist-admin-" + uuid.uuid4().hex
USER_PW = "hist-user-" + uuid.uuid4().hex
SECRET_V1, SECRET_V2 = "v1-s3cret-" + uuid.uuid4().hex, "v2-s3cret-" + uuid.uuid4().hex


def spec(app: str, greeting: str, secret: str) -> dict:
    return {"name": app, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "memory": "32m", "cpus": 0.1, "env": {"GREETING": greeting}, "secrets": {"TOKEN": secret}}


@pytest.fixture(scope="module")
def engine():
    with hello_engine(*APPS.values()) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", pytest.param("rethinkdb", marks=pytest.mark.rethinkdb)])
def state(request) -> str | None:
    """The service's state: its own SQLite file (None), or the run's RethinkDB database, emptied."""
    if request.param == "sqlite":
        return None
    url = request.getfixturevalue("rethinkdb_state")
    rethinkdb_support.empty_tables(url)
    return url


@pytest.fixture(scope="module")
def url(engine, state, tmp_path_factory):
    with local_service(tmp_path_factory.mktemp("history"), ADMIN_PW, local_engine_up(ADMIN_PW), state=state) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(url) -> dict[str, str]:
    """alice deploys the app; bob, another plain user, must not see it."""
    admin = api_login(url, "admin", ADMIN_PW)
    for name in ("alice", "bob"):
        added = api_call(url, admin, "POST", "/api/accounts", json={"name": name, "password": USER_PW, "role": "user"})
        assert added.status_code == 201, added.text
    return {name: api_login(url, name, USER_PW) for name in ("alice", "bob")}


def cli(url: str, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real `paasops` command line, as the account of `token`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, PAASOPS_TOKEN=token, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "paasops", *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=ROOT)


def deployed(url: str, token: str, body: dict) -> dict:
    answer = api_call(url, token, "POST", "/api/containers", json={"spec": body, "count": 2}, timeout=180)
    assert answer.status_code == 200 and answer.json()["ok"], answer.text
    return answer.json()


def replica_env(engine, app: str) -> list[tuple[str | None, str | None]]:
    """(GREETING, TOKEN) of every replica of `app`, read from the engine itself (not through paasops)."""
    out = []
    for c in engine.containers.list(filters={"label": f"paasops.app={app}"}):
        env = dict(item.partition("=")[::2] for item in engine.api.inspect_container(c.id)["Config"]["Env"])
        out.append((env.get("GREETING"), env.get("TOKEN")))
    return sorted(out)


def history(url: str, token: str, app: str) -> list[dict]:
    done = cli(url, token, "apps", "history", app, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert SECRET_V1 not in done.stdout and SECRET_V2 not in done.stdout and "aesgcm1:" not in done.stdout
    return json.loads(done.stdout)


def test_history_and_rollback(url, state, tokens, engine):
    alice, bob = tokens["alice"], tokens["bob"]
    name = APPS["rethinkdb" if state else "sqlite"]
    v1 = deployed(url, alice, spec(name, "v1", SECRET_V1))
    v2 = deployed(url, alice, spec(name, "v2", SECRET_V2))
    assert replica_env(engine, name) == [("v2", SECRET_V2)] * 2
    rows = history(url, alice, name)
    assert [(r["release"], r["outcome"], r["current"], r["user"], r["count"]) for r in rows] == [
        (v2["deployment"], "active", True, "alice", 2), (v1["deployment"], "superseded", False, "alice", 2)]
    assert rows[0]["started_at"] >= rows[1]["started_at"] > 0 and rows[1]["finished_at"]
    assert rows[0]["spec_hash"] == v2["spec_hash"] and rows[1]["spec_hash"] == v1["spec_hash"]
    table = cli(url, alice, "apps", "history", name)
    assert table.returncode == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if v1["deployment"] in line or v2["deployment"] in line]
    assert "active" in lines[0] and "alice" in lines[0] and v2["spec_hash"][:12] in lines[0], table.stdout
    assert "superseded" in lines[1] and v1["deployment"] in lines[1], table.stdout

    # Another plain account sees nothing of it and cannot roll it back: the same 404 as no app at all.
    for method, path, body in (("GET", f"/api/apps/{name}/history", None),
                               ("POST", f"/api/apps/{name}/rollback", {"to": None})):
        answer = api_call(url, bob, method, path, json=body)
        assert answer.status_code == 404 and SECRET_V1 not in answer.text, answer.text
    refused = cli(url, bob, "rollback", name)
    assert refused.returncode != 0 and f"no app {name!r}" in refused.stderr, refused.stderr
    assert replica_env(engine, name) == [("v2", SECRET_V2)] * 2

    # An unknown release: a clear error naming it, nothing changed.
    bad = cli(url, alice, "rollback", name, "--to", "ffffffff")
    assert bad.returncode != 0 and "no release 'ffffffff'" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert len(history(url, alice, name)) == 2

    # The rollback: v1's env and v1's secret (unsealed by the vault) on every replica, as a new release.
    done = cli(url, alice, "rollback", name, "-o", "json")
    assert done.returncode == 0, done.stderr
    back = json.loads(done.stdout)
    assert back["ok"] and back["spec_hash"] == v1["spec_hash"] and back["deployment"] not in (v1["deployment"],
                                                                                              v2["deployment"])
    assert replica_env(engine, name) == [("v1", SECRET_V1)] * 2
    rows = history(url, alice, name)
    assert [(r["release"], r["outcome"], r["rollback_to"]) for r in rows] == [
        (back["deployment"], "active", v1["deployment"]), (v2["deployment"], "superseded", None),
        (v1["deployment"], "superseded", None)]
    app = api_call(url, alice, "GET", f"/api/apps/{name}").json()
    assert (app["owner"], app["deployment_id"], app["count"]) == ("alice", back["deployment"], 2)

    # Back to what runs now: refused, "already running"; the event says what the rollback did.
    again = cli(url, alice, "rollback", name, "--to", v1["deployment"][:6])
    assert again.returncode != 0 and "already running" in again.stderr, again.stderr
    events = api_call(url, alice, "GET", "/api/events", params={"type": "rollback-app", "app": name}).json()
    assert [(e["user"], e["data"]["rollback_to"], e["data"]["deployment"]) for e in events] == [
        ("alice", v1["deployment"], back["deployment"])]
