"""A release is the whole spec, and health checks, against a real `serve --local-engine` and its dockerd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from lab_support import hello_engine, local_engine_up, local_service

RUN = uuid.uuid4().hex[:6]
ENV_APP, OK_APP, BAD_APP = f"rel-env-{RUN}", f"rel-ok-{RUN}", f"rel-bad-{RUN}"
ADMIN_PW = "rel-admin-" + uuid.uuid4().hex


def spec(name: str, **more) -> dict:
    return {"name": name, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "ports": ["0:8080"], "memory": "32m", "cpus": 0.1, **more}


@pytest.fixture(scope="module")
def engine():
    with hello_engine(ENV_APP, OK_APP, BAD_APP) as client:
        yield client


@pytest.fixture(scope="module")
def api(engine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("release")
    with local_service(workdir, ADMIN_PW, local_engine_up(ADMIN_PW)) as url:
        token = httpx.post(f"{url}/api/login", json={"username": "admin", "password": ADMIN_PW},
                           timeout=30).json()["token"]
        with httpx.Client(base_url=url, headers={"X-Access-Token": token}, timeout=120) as client:
            yield client


def cli(api: httpx.Client, *args: str) -> str:
    """Run the paasops CLI against the service, as the admin; its stdout (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=str(api.base_url), PAASOPS_TOKEN=api.headers["X-Access-Token"], COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "paasops", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def deploy(api: httpx.Client, body: dict, count: int, dry_run: bool = False) -> dict:
    answer = api.post("/api/containers", json={"spec": body, "count": count, "dry_run": dry_run})
    assert answer.status_code == 200, answer.text
    return answer.json()


def env_of(engine, app: str) -> dict[str, str]:
    """Each replica's GREETING, read from the engine itself (not through paasops)."""
    out = {}
    for c in engine.containers.list(filters={"label": f"paasops.app={app}"}):
        env = dict(item.partition("=")[::2] for item in engine.api.inspect_container(c.id)["Config"]["Env"])
        out[c.name] = env.get("GREETING")
    return out


def test_a_changed_env_alone_replaces_every_replica(api, engine, tmp_path):
    first = deploy(api, spec(ENV_APP, env={"GREETING": "hi"}), 3)
    assert first["ok"] and first["new_release"] and first["changes"] == []
    assert sorted(env_of(engine, ENV_APP).values()) == ["hi"] * 3
    plan = deploy(api, spec(ENV_APP, env={"GREETING": "hello"}), 3, dry_run=True)
    assert plan["new_release"] and plan["changes"] == [
        {"field": "env.GREETING", "change": "changed", "old": "hi", "new": "hello", "secret": False}]
    assert sorted(env_of(engine, ENV_APP).values()) == ["hi"] * 3  # a dry run changes nothing
    second = deploy(api, spec(ENV_APP, env={"GREETING": "hello"}), 3)
    assert second["ok"] and second["new_release"] and second["deployment"] != first["deployment"]
    assert [(c["field"], c["old"], c["new"]) for c in second["changes"]] == [("env.GREETING", "hi", "hello")]
    assert sorted(r["id"] for r in second["removed"]) == sorted(r["id"] for r in first["replicas"])
    after = env_of(engine, ENV_APP)
    assert sorted(after.values()) == ["hello"] * 3, after
    hashes = {c.labels["paasops.spec-hash"] for c in engine.containers.list(filters={"label": f"paasops.app={ENV_APP}"})}
    assert hashes == {second["spec_hash"]} and second["spec_hash"] != first["spec_hash"]
    # The CLI's dry run shows the diff too, a secret as changed only.
    app_yml = tmp_path / "app.yml"
    app_yml.write_text(json.dumps(spec(ENV_APP, env={"GREETING": "hey"}, count=3)))
    out = cli(api, "deploy", str(app_yml), "--dry-run")
    assert "env.GREETING: 'hello' -> 'hey'" in out, out
    # The same spec again is the same release: a scale, nothing replaced.
    again = deploy(api, spec(ENV_APP, env={"GREETING": "hello"}), 3)
    assert not again["new_release"] and again["deployment"] == second["deployment"] and not again["removed"]


def wait_for(api: httpx.Client, app: str, check, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        view = api.get(f"/api/apps/{app}").json()
        if check(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.5)


def health_of(api: httpx.Client, app: str) -> list[str]:
    return [c["health"] for c in api.get("/api/containers", params={"app": app}).json()]


def test_a_healthy_check_makes_replicas_ready_and_a_failing_one_unhealthy(api, engine):
    fast = {"interval": "500ms", "timeout": "2s", "retries": 2}
    ok = deploy(api, spec(OK_APP, health={"http": "/", **fast}), 2)
    bad = deploy(api, spec(BAD_APP, health={"http": "/nope", **fast}), 2)
    assert ok["ok"] and bad["ok"]
    healthcheck = engine.api.inspect_container(ok["replicas"][0]["id"])["Config"]["Healthcheck"]
    assert healthcheck["Test"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
    view = wait_for(api, OK_APP, lambda v: v["ready"] == 2)
    assert (view["count"], view["replicas"], view["ready"], view["health"]) == (2, 2, 2, "http /"), view
    assert health_of(api, OK_APP) == ["healthy", "healthy"]
    assert all(c["ready"] for c in api.get("/api/containers", params={"app": OK_APP}).json())
    view = wait_for(api, BAD_APP, lambda v: v["unhealthy"] == 2)
    assert (view["count"], view["replicas"], view["ready"], view["unhealthy"]) == (2, 2, 0, 2), view
    assert health_of(api, BAD_APP) == ["unhealthy", "unhealthy"]
    engine_health = {engine.api.inspect_container(r["id"])["State"]["Health"]["Status"] for r in bad["replicas"]}
    assert engine_health == {"unhealthy"}
    report = {a["name"]: a for a in api.get("/api/report").json()["apps"]}
    assert (report[OK_APP]["ready"], report[BAD_APP]["ready"], report[BAD_APP]["unhealthy"]) == (2, 0, 2)
    detail = api.get(f"/api/containers/{bad['replicas'][0]['id']}").json()
    assert (detail["health"], detail["ready"]) == ("unhealthy", False)
    rows = {line.split()[0]: line.split() for line in cli(api, "apps").splitlines() if line.strip()}
    assert rows[OK_APP][2:5] == ["2", "2", "2"] and rows[BAD_APP][2:5] == ["2", "2", "0"], rows
    assert cli(api, "ps", "--app", BAD_APP).count("unhealthy") == 2
    assert "server returned error" in cli(api, "inspect", bad["replicas"][0]["id"])
