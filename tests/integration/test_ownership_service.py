"""Ownership and secrets against a real `serve --local-engine`: Alice cannot reach Bob's app, no one reads a secret."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from lab_support import api_call, api_login, hello_engine, local_engine_up, local_service

from paasops.vocabulary import LABEL_OWNER, LABEL_TEAM, REDACTED, SECRETS_KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:6]
ALICE_APP, BOB_APP = f"own-alice-{RUN}", f"own-bob-{RUN}"
ADMIN_PW = "own-admin-" + uuid.uuid4().hex
USER_PW = "own-user-" + uuid.uuid4().hex
ALICE_SECRET = "alice-s3cret-" + uuid.uuid4().hex
BOB_SECRET = "bob-s3cret-" + uuid.uuid4().hex
ROTATED = "alice-rotated-" + uuid.uuid4().hex
SECRETS = (ALICE_SECRET, BOB_SECRET, ROTATED)


def spec(name: str, secret: str) -> dict:
    return {"name": name, "image": "paasops/hello:latest", "memory": "32m",
            "command": ["sh", "-c", "echo password=$DB_PASSWORD; sleep 300"],  # an app that prints its secret
            "cpus": 0.1, "env": {"MODE": "test"}, "secrets": {"DB_PASSWORD": secret}}


login = api_login


def call(url: str, token: str, method: str, path: str, **kw) -> httpx.Response:
    return api_call(url, token, method, path, timeout=120, **kw)


def no_secret(text: str) -> bool:
    return not any(s in text for s in SECRETS)


@pytest.fixture(scope="module")
def engine():
    """This machine's Docker, which the service runs on; the apps' containers go at the end."""
    with hello_engine(ALICE_APP, BOB_APP) as client:
        yield client


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory):
    """The service's URL and its workdir (state.db, pki/)."""
    workdir = tmp_path_factory.mktemp("ownership")
    with local_service(workdir, ADMIN_PW, local_engine_up(ADMIN_PW)) as url:
        yield url, workdir


@pytest.fixture(scope="module")
def url(lab) -> str:
    return lab[0]


@pytest.fixture(scope="module")
def tokens(url) -> dict[str, str]:
    """admin; alice (user, no team); bob (user, team blue, put there after he was added); erin (blue)."""
    admin = login(url, "admin", ADMIN_PW)
    for name, team in (("alice", None), ("bob", None), ("erin", "blue")):
        added = call(url, admin, "POST", "/api/accounts",
                     json={"name": name, "password": USER_PW, "role": "user", "team": team})
        assert added.status_code == 201 and added.json()["team"] == team, added.text
    moved = call(url, admin, "PATCH", "/api/accounts/bob", json={"team": "blue"})
    assert moved.status_code == 200 and moved.json()["team"] == "blue", moved.text
    return {"admin": admin, **{n: login(url, n, USER_PW) for n in ("alice", "bob", "erin")}}


def deploy(url: str, token: str, body: dict) -> httpx.Response:
    return call(url, token, "POST", "/api/containers", json={"spec": body, "count": 1})


@pytest.fixture(scope="module")
def apps(url, tokens) -> dict[str, dict]:
    """Each user's app with one secret, deployed by its owner: the deploy answers."""
    out = {}
    for who, name, secret in (("alice", ALICE_APP, ALICE_SECRET), ("bob", BOB_APP, BOB_SECRET)):
        answer = deploy(url, tokens[who], spec(name, secret))
        assert answer.status_code == 200 and answer.json()["ok"], answer.text
        assert no_secret(answer.text)
        out[who] = answer.json()
    return out


def test_alice_cannot_list_inspect_stop_scale_redeploy_or_delete_bobs_app(url, tokens, apps, engine):
    alice = tokens["alice"]
    bob_id = apps["bob"]["replicas"][0]["id"]
    bob_name = apps["bob"]["replicas"][0]["name"]
    assert [a["name"] for a in call(url, alice, "GET", "/api/apps").json()] == [ALICE_APP]
    assert bob_id not in {c["id"] for c in call(url, alice, "GET", "/api/containers").json()}
    assert call(url, alice, "GET", f"/api/apps/{BOB_APP}").status_code == 404
    for ref in (bob_id, bob_id[:12], bob_name):
        for method, path in (("GET", ""), ("GET", "/logs"), ("POST", "/stop"), ("POST", "/start"),
                             ("POST", "/restart"), ("DELETE", "")):
            answer = call(url, alice, method, f"/api/containers/{ref}{path}")
            assert answer.status_code == 404 and answer.json()["error"].endswith(f"no container {ref!r}"), \
                (method, path, answer.text)
        scaled = call(url, alice, "POST", f"/api/containers/{ref}/scale", json={"count": 0})
        assert scaled.status_code == 404, scaled.text
    assert call(url, alice, "POST", f"/api/apps/{BOB_APP}/scale", json={"count": 0}).status_code == 404
    assert call(url, alice, "DELETE", f"/api/apps/{BOB_APP}").status_code == 404
    redeploy = deploy(url, alice, {**spec(BOB_APP, "mine"), "image": "paasops/hello:latest"})
    assert redeploy.status_code == 403 and "belongs to another account" in redeploy.json()["error"], redeploy.text
    assert not any(e.get("app") == BOB_APP for e in call(url, alice, "GET", "/api/events?limit=1000").json())
    assert not call(url, alice, "GET", f"/api/events?app={BOB_APP}").json()
    report = call(url, alice, "GET", "/api/report").json()
    assert [a["name"] for a in report["apps"]] == [ALICE_APP]
    # Bob's app is untouched, and still his: one running replica, his record
    assert engine.containers.get(bob_id).status == "running"
    bobs = call(url, tokens["bob"], "GET", f"/api/apps/{BOB_APP}").json()
    assert (bobs["owner"], bobs["team"], bobs["count"], bobs["replicas"]) == ("bob", "blue", 1, 1)
    labels = engine.containers.get(bob_id).labels
    assert (labels[LABEL_OWNER], labels[LABEL_TEAM]) == ("bob", "blue")


def test_a_teammate_and_an_admin_see_and_act_on_bobs_app(url, tokens, apps):
    bob_id = apps["bob"]["replicas"][0]["id"]
    for who in ("erin", "admin"):
        assert BOB_APP in [a["name"] for a in call(url, tokens[who], "GET", "/api/apps").json()]
        assert call(url, tokens[who], "GET", f"/api/containers/{bob_id}").status_code == 200
    assert call(url, tokens["erin"], "POST", f"/api/apps/{BOB_APP}/scale", json={"count": 1}).status_code == 200
    assert ALICE_APP not in [a["name"] for a in call(url, tokens["erin"], "GET", "/api/apps").json()]
    assert call(url, tokens["bob"], "GET", f"/api/apps/{ALICE_APP}").status_code == 404


def test_no_route_shows_a_secret_value_even_to_its_owner(url, tokens, apps):
    alice_id = apps["alice"]["replicas"][0]["id"]
    for who in ("alice", "admin"):
        token = tokens[who]
        mine = call(url, token, "GET", f"/api/apps/{ALICE_APP}")
        assert mine.status_code == 200 and mine.json()["secrets"] == ["DB_PASSWORD"] and no_secret(mine.text)
        assert "secrets" not in mine.json()["spec"]
        inspected = call(url, token, "GET", f"/api/containers/{alice_id}")
        assert inspected.status_code == 200 and no_secret(inspected.text), inspected.text
        env = inspected.json()["inspect"]["Config"]["Env"]
        assert f"DB_PASSWORD={REDACTED}" in env and "MODE=test" in env
        for path in ("/api/apps", "/api/containers", "/api/events?limit=10000", "/api/report",
                     f"/api/containers/{alice_id}/logs"):
            answer = call(url, token, "GET", path)
            assert answer.status_code == 200 and no_secret(answer.text), (who, path)
        logs = call(url, token, "GET", f"/api/containers/{alice_id}/logs")
        assert f"password={REDACTED}" in logs.text, logs.text
        with httpx.stream("GET", f"{url}/api/containers/{alice_id}/logs?follow=true",
                          headers={"X-Access-Token": token}, timeout=30) as followed:
            first = next(followed.iter_text())
        assert followed.status_code == 200 and first.startswith(f"password={REDACTED}") and no_secret(first), first


def test_the_secret_reaches_the_container_and_is_encrypted_in_the_state_file(lab, apps, engine):
    _, workdir = lab
    container = engine.containers.get(apps["alice"]["replicas"][0]["id"])
    assert f"DB_PASSWORD={ALICE_SECRET}" in container.attrs["Config"]["Env"]
    shown = container.exec_run(["sh", "-c", "echo $DB_PASSWORD"])
    assert shown.exit_code == 0 and shown.output.decode().strip() == ALICE_SECRET
    raw = b"".join(p.read_bytes() for p in workdir.glob("state.db*"))  # the file and its WAL, as they lie on disk
    assert ALICE_SECRET.encode() not in raw and BOB_SECRET.encode() not in raw
    db = sqlite3.connect(f"file:{workdir / 'state.db'}?mode=ro", uri=True)
    doc = json.loads(db.execute("SELECT doc FROM apps WHERE name=?", (ALICE_APP,)).fetchone()[0])
    db.close()
    assert list(doc["secrets"]) == ["DB_PASSWORD"] and doc["secrets"]["DB_PASSWORD"].startswith("aesgcm1:")
    assert "secrets" not in doc["spec"] and ALICE_SECRET not in json.dumps(doc)
    key = workdir / "pki" / SECRETS_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_rotated_secret_makes_a_new_release_with_the_new_value(url, tokens, apps, engine):
    before = apps["alice"]
    again = deploy(url, tokens["alice"], spec(ALICE_APP, ALICE_SECRET))
    assert again.status_code == 200 and again.json()["deployment"] == before["deployment"]  # unchanged: no release
    rotated = deploy(url, tokens["alice"], spec(ALICE_APP, ROTATED))
    assert rotated.status_code == 200 and rotated.json()["ok"] and no_secret(rotated.text), rotated.text
    result = rotated.json()
    assert result["deployment"] != before["deployment"] and result["spec_hash"] != before["spec_hash"]
    new = engine.containers.get(result["replicas"][0]["id"])
    assert f"DB_PASSWORD={ROTATED}" in new.attrs["Config"]["Env"]
    assert [r["id"] for r in result["removed"]] == [before["replicas"][0]["id"]]


def test_apps_rm_removes_the_app_and_its_secrets(lab, tokens, apps, engine):
    url, workdir = lab
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, XDG_CONFIG_HOME=str(workdir / "alice-cli"), COLUMNS="200")

    def cli(*args, **kw):
        return subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=120, **kw)

    assert cli("login", "-u", "alice", "--password-stdin", input=USER_PW + "\n").returncode == 0
    refused = cli("apps", "rm", BOB_APP)
    assert refused.returncode != 0 and f"no app {BOB_APP!r}" in refused.stderr
    done = cli("apps", "rm", ALICE_APP)
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(f"file:{workdir / 'state.db'}?mode=ro", uri=True)
    assert db.execute("SELECT count(*) FROM apps WHERE name=?", (ALICE_APP,)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM apps WHERE name=?", (BOB_APP,)).fetchone()[0] == 1
    db.close()
    assert engine.containers.list(all=True, filters={"label": [f"paasops.app={ALICE_APP}"]}) == []
