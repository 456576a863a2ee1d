"""Rolling updates with automatic rollback, against a real `serve --local-engine` and its dockerd; readiness is
read from the engine itself, never through paasops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
from lab_support import api_call, api_login, hello_engine, local_engine_up, local_service

RUN = uuid.uuid4().hex[:6]
ROLL_APP, BAD_APP, ENV_APP = f"roll-ok-{RUN}", f"roll-bad-{RUN}", f"roll-env-{RUN}"
ADMIN_PW = "roll-admin-" + uuid.uuid4().hex
HEALTH = {"interval": "1s", "timeout": "1s", "retries": 2}
ROOT = Path(__file__).resolve().parents[2]


def spec(name: str, greeting: str, **more) -> dict:
    return {"name": name, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "ports": ["0:8080"], "memory": "16m", "cpus": 0.05, "env": {"GREETING": greeting}, **more}


@pytest.fixture(scope="module")
def engine():
    with hello_engine(ROLL_APP, BAD_APP, ENV_APP) as client:
        yield client


@pytest.fixture(scope="module")
def service(engine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rolling")
    with local_service(workdir, ADMIN_PW, local_engine_up(ADMIN_PW)) as url:
        yield url, api_login(url, "admin", ADMIN_PW)


def deploy(service, body: dict, count: int) -> dict:
    url, token = service
    answer = api_call(url, token, "POST", "/api/containers", json={"spec": body, "count": count}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cli_deploy(service, tmp_path: Path, body: dict) -> subprocess.CompletedProcess:
    """`paasops deploy app.yml` as the admin (an app.yml may be JSON: YAML reads it)."""
    url, token = service
    app_yml = tmp_path / f"{body['name']}.yml"
    app_yml.write_text(json.dumps(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, PAASOPS_TOKEN=token, COLUMNS="300")
    return subprocess.run([sys.executable, "-m", "paasops", "deploy", str(app_yml)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def listed(client, app: str) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"paasops.app={app}"})


def ready_count(client, app: str) -> int:
    """Replicas the engine runs and calls healthy."""
    return sum(c["State"] == "running" and c["Status"].endswith("(healthy)") for c in listed(client, app))


def wait_ready(client, app: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ready_count(client, app) != count:
        assert time.monotonic() < deadline, [c["Status"] for c in listed(client, app)]
        time.sleep(0.2)


def hashes(client, app: str) -> list[str]:
    return sorted(c["Labels"]["paasops.spec-hash"] for c in listed(client, app))


class Sampler(threading.Thread):
    """Counts the app's ready replicas on the engine every 200 ms until stopped (its own Docker client)."""

    def __init__(self, app: str):
        super().__init__(daemon=True)
        self.app, self.samples, self.stop = app, [], threading.Event()

    def run(self) -> None:
        client = docker.from_env()
        try:
            while not self.stop.is_set():
                self.samples.append(ready_count(client, self.app))
                self.stop.wait(0.2)
        finally:
            client.close()


def test_a_rolling_update_keeps_five_of_six_ready_and_shows_its_batches(service, engine, tmp_path):
    update = {"parallelism": 1, "order": "start-first", "monitor": "1s"}
    first = deploy(service, spec(ROLL_APP, "hi", health={"http": "/", **HEALTH}, update=update), 6)
    assert first["ok"] and "batches" not in first  # a first deploy: all at once, no batches
    wait_ready(engine, ROLL_APP, 6)
    sampler = Sampler(ROLL_APP)
    sampler.start()
    done = cli_deploy(service, tmp_path, spec(ROLL_APP, "hello", health={"http": "/", **HEALTH}, update=update,
                                              count=6))
    sampler.stop.set()
    sampler.join()
    assert done.returncode == 0, done.stderr + done.stdout
    assert len(sampler.samples) > 20 and min(sampler.samples) >= 5, sampler.samples
    for k in range(1, 7):
        assert f"batch {k}/6 ready" in done.stderr, done.stderr
    assert "rolled out in 6 batch(es)" in done.stdout, done.stdout
    new_hash = json.loads(api_call(*service, "GET", f"/api/apps/{ROLL_APP}").text)["spec_hash"]
    assert new_hash != first["spec_hash"] and hashes(engine, ROLL_APP) == [new_hash] * 6
    assert ready_count(engine, ROLL_APP) == 6


def test_a_release_that_fails_its_health_check_is_rolled_back(service, engine, tmp_path):
    update = {"parallelism": 2, "order": "stop-first", "monitor": "1s"}  # two old replicas go before the check
    first = deploy(service, spec(BAD_APP, "hi", health={"http": "/", **HEALTH}, update=update), 6)
    wait_ready(engine, BAD_APP, 6)
    done = cli_deploy(service, tmp_path, spec(BAD_APP, "hello", health={"http": "/nope", **HEALTH}, update=update,
                                              count=6))
    assert done.returncode != 0, done.stdout
    out = done.stdout + done.stderr
    assert "rolling update rolled back to the previous release" in done.stderr, out
    assert "unhealthy: health check exit 1:" in out and "server returned error" in out and "404" in out, out
    assert "batch 1/3 failed" in done.stderr, out
    # Exactly the six replicas of the release that ran: the two stop-first took down are back.
    assert hashes(engine, BAD_APP) == [first["spec_hash"]] * 6
    assert len({c["Id"] for c in listed(engine, BAD_APP)} - {r["id"] for r in first["replicas"]}) == 2
    app = api_call(*service, "GET", f"/api/apps/{BAD_APP}").json()
    assert (app["state"], app["deployment_id"], app["spec"]["env"]) == ("active", first["deployment"],
                                                                         {"GREETING": "hi"})
    wait_ready(engine, BAD_APP, 6)
    # The API's answer says the same, replica by replica.
    answer = deploy(service, spec(BAD_APP, "hello", health={"http": "/nope", **HEALTH},
                                  update={**update, "order": "start-first", "parallelism": 1}), 6)
    assert not answer["ok"] and answer["rolled_back"] and not answer["paused"]
    assert [(f["batch"], f["reason"]) for f in answer["failures"]] == [(1, "unhealthy")]
    assert "server returned error" in answer["failures"][0]["detail"]
    assert answer["replicas"] == [] and len(answer["removed"]) == 1  # start-first: no old replica was replaced
    assert hashes(engine, BAD_APP) == [first["spec_hash"]] * 6
    # failure_action pause: the update stops there, the app left pending with both releases' replicas.
    paused = deploy(service, spec(BAD_APP, "hello", health={"http": "/nope", **HEALTH},
                                  update={**update, "order": "start-first", "failure_action": "pause"}), 6)
    assert not paused["ok"] and paused["paused"] and not paused["rolled_back"] and paused["removed"] == []
    assert paused["failures"] and {(f["batch"], f["reason"]) for f in paused["failures"]} == {(1, "unhealthy")}
    app = api_call(*service, "GET", f"/api/apps/{BAD_APP}").json()
    assert app["state"] == "pending" and app["deployment_id"] == paused["deployment"]
    assert hashes(engine, BAD_APP) == sorted([first["spec_hash"]] * 6 + [paused["spec_hash"]] * 2)
    # Left so (nothing finishes it) until the next deploy, which replaces both releases' replicas.
    again = deploy(service, spec(BAD_APP, "hi", health={"http": "/", **HEALTH}, update={**update, "parallelism": 4}), 6)
    assert again["ok"] and again["batches"] == 2 and len(again["removed"]) == 8, again
    assert hashes(engine, BAD_APP) == [first["spec_hash"]] * 6
    assert api_call(*service, "GET", f"/api/apps/{BAD_APP}").json()["state"] == "active"


def test_a_redeploy_changing_only_env_replaces_every_replica(service, engine):
    update = {"parallelism": 2, "monitor": "0s"}
    first = deploy(service, spec(ENV_APP, "hi", update=update), 4)
    second = deploy(service, spec(ENV_APP, "hello", update=update), 4)
    assert second["ok"] and second["batches"] == 2 and second["changes"][0]["field"] == "env.GREETING"
    assert sorted(r["id"] for r in second["removed"]) == sorted(r["id"] for r in first["replicas"])
    running = listed(engine, ENV_APP)
    assert len(running) == 4
    for c in running:
        env = dict(item.partition("=")[::2] for item in engine.api.inspect_container(c["Id"])["Config"]["Env"])
        assert env["GREETING"] == "hello", c["Names"]
    # A release no host can take beside the running one is refused before anything changes, as a first deploy.
    url, token = service
    refused = api_call(url, token, "POST", "/api/containers", json={"spec": spec(ENV_APP, "hey", memory="64g"),
                                                                    "count": 4})
    assert refused.status_code == 409 and "memory" in refused.json()["error"], refused.text
    assert sorted(c["Id"] for c in listed(engine, ENV_APP)) == sorted(c["Id"] for c in running)
    app = api_call(url, token, "GET", f"/api/apps/{ENV_APP}").json()
    assert (app["state"], app["deployment_id"]) == ("active", second["deployment"])
