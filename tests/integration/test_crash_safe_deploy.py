"""A `serve` killed mid-deploy loses nothing: after a restart the deploy is finished, not taken for orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from lab_support import free_port, stop_serve

from paasops.lab.hello_image import ensure_hello_image
from paasops.pki import ensure_ca, ensure_client_cert
from paasops.service.apps import release_of
from paasops.service.deploy import TEST_PAUSE_ENV
from paasops.spec import new_deployment_id, parse_app_spec, spec_hash
from paasops.store.records import App
from paasops.store.sqlite import SqliteStore
from paasops.vocabulary import DEPLOY_ACTIVE, DEPLOY_PENDING, LABEL_DEPLOYMENT

ROOT = Path(__file__).resolve().parents[2]
APP = f"crash-{uuid.uuid4().hex[:6]}"
COUNT = 12
PASSWORD = "crash-test-" + uuid.uuid4().hex
SPEC = {"name": APP, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        "cpus": 0.05, "memory": "16m", "count": COUNT}
RESERVING = {"created", "running", "restarting", "paused"}


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    ensure_hello_image(client)
    yield client
    for c in client.containers.list(all=True, filters={"label": f"paasops.app={APP}"}):
        c.remove(force=True)
    client.close()


@pytest.fixture
def workdir(tmp_path) -> Path:
    ensure_client_cert(tmp_path / "pki", ensure_ca(tmp_path / "pki"))
    return tmp_path


def serve(workdir: Path, port: int, log_name: str = "serve.log", pause_at: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env["PAASOPS_ADMIN_PASSWORD"] = PASSWORD
    if pause_at:
        env[TEST_PAUSE_ENV] = pause_at
    with open(workdir / log_name, "a") as log:
        return subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--local-engine", "--state",
                                 f"sqlite:///{workdir}/state.db", "--port", str(port), "--pki-dir",
                                 str(workdir / "pki")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def ready(proc: subprocess.Popen, url: str, workdir: Path, timeout: float = 30) -> dict[str, str]:
    """The admin's auth header once the service answers and its local engine is up."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, (workdir / "serve.log").read_text()
        try:
            token = httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD},
                               timeout=10).json()["token"]
            auth = {"X-Access-Token": token}
            if [e["status"] for e in httpx.get(f"{url}/api/engines", headers=auth, timeout=2).json()] == ["up"]:
                return auth
        except (httpx.TransportError, KeyError):
            pass
        assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
        time.sleep(0.2)


def replicas(engine, state: str | None = None) -> list:
    for _ in range(20):  # a container removed between Docker's list and its inspect: list again
        try:
            found = engine.containers.list(all=True, filters={"label": f"paasops.app={APP}"})
            break
        except docker.errors.NotFound:
            time.sleep(0.05)
    else:
        raise AssertionError("containers kept vanishing while being listed")
    return [c for c in found if c.status in RESERVING and (state is None or c.status == state)]


def deploy(url: str, auth: dict[str, str], release: str, count: int = COUNT) -> None:
    spec = {**SPEC, "env": {"RELEASE": release}, "cpus": 0.05 if release == "1" else 0.04}  # a new spec hash
    try:
        httpx.post(f"{url}/api/containers", headers=auth, json={"spec": spec, "count": count}, timeout=60)
    except httpx.TransportError:  # serve was killed under it: expected
        pass


@pytest.mark.parametrize("before", [0, 3], ids=["first deploy", "redeploy"])
def test_a_deploy_cut_by_sigkill_is_finished_after_restart(engine, workdir, before):
    for c in engine.containers.list(all=True, filters={"label": f"paasops.app={APP}"}):
        c.remove(force=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve(workdir, port)
    try:
        auth = ready(first, url, workdir)
        if before:
            deploy(url, auth, "1", before)
        old = {c.id for c in replicas(engine)}
        assert len(old) == before
        # the deploy runs in a client thread; serve dies under it once its first replica exists
        threading.Thread(target=deploy, args=(url, auth, "2"), daemon=True).start()
        deadline = time.monotonic() + 30
        while len(replicas(engine)) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_serve(first)
    cut = [c for c in replicas(engine) if c.id not in old]
    assert 0 < len(cut) < COUNT, f"the kill came too late or too early: {len(cut)} replicas"
    # the previous release runs on until the new one commits: a rolling update removes an old replica only
    # once its replacement is ready, so the app never runs fewer than before
    assert len(replicas(engine)) >= len(old)

    second = serve(workdir, port)
    try:
        auth = ready(second, url, workdir)
        app = httpx.get(f"{url}/api/apps/{APP}", headers=auth, timeout=10)
        assert app.status_code == 200, app.text  # the record was written before any container started
        deployment = app.json()["deployment_id"]
        # start-up finishes the pending deployment; then one reconcile
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/apps/{APP}", headers=auth, timeout=10).json()["state"] != DEPLOY_ACTIVE:
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            time.sleep(0.5)
        done = httpx.post(f"{url}/api/reconcile", headers=auth, json={"apps": [APP]}, timeout=60).json()
        assert done["summary"]["orphan"] == 0 and done["summary"]["duplicate"] == 0, done
        running = replicas(engine, "running")
        assert len(running) == COUNT and len(replicas(engine)) == COUNT
        assert {c.labels[LABEL_DEPLOYMENT] for c in running} == {deployment}
        survivors = {c.id for c in cut} & {c.id for c in running}
        assert survivors >= {c.id for c in cut if c.status == "running"}  # none of them destroyed
    finally:
        stop_serve(second)


def paused(workdir: Path, point: str, timeout: float = 60) -> None:
    """Wait until serve's log says the deploy stopped at the test hook's `point`."""
    deadline = time.monotonic() + timeout
    while f"deploy paused at {point}" not in (workdir / "serve.log").read_text():
        assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
        time.sleep(0.1)


def release_one(engine, workdir: Path, url: str, port: int) -> set[str]:
    """A fresh app with release 1 committed (3 replicas) by a serve without the test hook, stopped again."""
    for c in engine.containers.list(all=True, filters={"label": f"paasops.app={APP}"}):
        c.remove(force=True)
    plain = serve(workdir, port)
    try:
        deploy(url, ready(plain, url, workdir), "1", 3)
    finally:
        stop_serve(plain)
    old = {c.id for c in replicas(engine, "running")}
    assert len(old) == 3
    return old


def recovered(workdir: Path, url: str, port: int) -> tuple[subprocess.Popen, dict[str, str], dict]:
    """A serve restarted without the hook, once start-up has committed the app; then one reconcile."""
    second = serve(workdir, port)
    auth = ready(second, url, workdir)
    deadline = time.monotonic() + 60
    while (app := httpx.get(f"{url}/api/apps/{APP}", headers=auth, timeout=10).json())["state"] != DEPLOY_ACTIVE:
        assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
        time.sleep(0.5)
    done = httpx.post(f"{url}/api/reconcile", headers=auth, json={"apps": [APP]}, timeout=60).json()
    assert done["summary"]["orphan"] == 0 and done["summary"]["duplicate"] == 0, done
    return second, auth, app


@pytest.mark.parametrize("point", ["after-record", "before-commit"])
def test_a_redeploy_killed_at_each_point_ends_with_the_newest_release_only(engine, workdir, point):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    old = release_one(engine, workdir, url, port)
    first = serve(workdir, port, pause_at=point)
    try:
        auth = ready(first, url, workdir)
        threading.Thread(target=deploy, args=(url, auth, "2"), daemon=True).start()
        deadline = time.monotonic() + 60  # the test hook logs the point it blocks at
        while f"deploy paused at {point}" not in (workdir / "serve.log").read_text():
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            time.sleep(0.1)
        cut = {c.id for c in replicas(engine)} - old
        assert len(cut) == (0 if point == "after-record" else COUNT), cut
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_serve(first)
    # the previous release runs on until the new one commits: a rolling update removes an old replica only
    # once its replacement is ready, so the app never runs fewer than before
    assert len(replicas(engine)) >= len(old)

    second, auth, app = recovered(workdir, url, port)
    try:
        running = replicas(engine, "running")
        assert len(running) == COUNT and len(replicas(engine)) == COUNT
        assert {c.labels[LABEL_DEPLOYMENT] for c in running} == {app["deployment_id"]}
        assert app["spec"]["env"] == {"RELEASE": "2"}
        assert {c.id for c in running} >= cut  # none of the replicas it had started was destroyed
    finally:
        stop_serve(second)


def test_a_pending_deployment_that_cannot_be_placed_is_rolled_back(engine, workdir):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    old = release_one(engine, workdir, url, port)
    # release 2, recorded pending by a deploy the crash cut, asks for a host label no engine has (now)
    spec = parse_app_spec({**SPEC, "env": {"RELEASE": "2"}, "cpus": 0.04, "constraints": ["zone==nowhere"]},
                          source="test")
    store = SqliteStore(workdir / "state.db")
    try:
        store.put_app(App(name=APP, spec=spec.to_dict(), count=COUNT, deployment_id=new_deployment_id(),
                          spec_hash=spec_hash(spec), state=DEPLOY_PENDING, previous=release_of(store.get_app(APP))))
    finally:
        store.close()

    second, auth, app = recovered(workdir, url, port)
    try:
        assert app["spec"]["env"] == {"RELEASE": "1"} and app["count"] == 3  # the previous release, active again
        assert {c.id for c in replicas(engine, "running")} == old and len(replicas(engine)) == 3
        events = httpx.get(f"{url}/api/events", headers=auth, params={"app": APP}, timeout=10).json()
        assert any("rolled back" in e["message"] and "zone" in e["message"] for e in events), events
    finally:
        stop_serve(second)


def test_a_second_serve_on_the_same_state_refuses_to_start(engine, workdir):
    port = free_port()
    first = serve(workdir, port)
    try:
        ready(first, f"http://127.0.0.1:{port}", workdir)
        other = serve(workdir, free_port(), "second.log")
        assert other.wait(timeout=30) != 0
        said = (workdir / "second.log").read_text()
        assert f"another paasops serve (pid {first.pid} on " in said, said
        assert first.poll() is None
    finally:
        stop_serve(first)
