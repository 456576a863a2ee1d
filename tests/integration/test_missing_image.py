"""An image that is on no engine, not on this machine and cannot be pulled fails once, before placement:
one message naming it (400 over the API, exit 2 on the CLI), no replica created, no record left."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from lab_support import free_port, stop_serve
from test_crash_safe_deploy import ready, serve

from paasops.pki import ensure_ca, ensure_client_cert
from paasops.vocabulary import LABEL_APP

ROOT = Path(__file__).resolve().parents[2]
APP = f"noimage-{uuid.uuid4().hex[:6]}"
# A registry on loopback port 1: the pull is refused at once, and nothing leaves this machine.
IMAGE = f"127.0.0.1:1/paasops-test/{APP}:absent"
SPEC = {"name": APP, "image": IMAGE, "cpus": 0.01, "memory": "8m", "count": 5}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("noimage")
    ensure_client_cert(workdir / "pki", ensure_ca(workdir / "pki"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(workdir, port)
    try:
        yield url, ready(proc, url, workdir), workdir
    finally:
        stop_serve(proc)


def made(engine) -> list:
    return engine.containers.list(all=True, filters={"label": f"{LABEL_APP}={APP}"})


def test_the_api_refuses_a_missing_image_once_before_placement(service):
    url, auth, _ = service
    engine = docker.from_env()
    try:
        answer = httpx.post(f"{url}/api/containers", headers=auth, json={"spec": SPEC}, timeout=120)
        assert answer.status_code == 400, answer.text
        assert IMAGE in answer.json()["error"] and "cannot be pulled" in answer.json()["error"]
        assert made(engine) == []
        assert httpx.get(f"{url}/api/apps/{APP}", headers=auth, timeout=10).status_code == 404  # rolled back
        streamed = httpx.post(f"{url}/api/containers", headers=auth, params={"stream": True},
                              json={"spec": SPEC}, timeout=120).text.splitlines()
        assert len(streamed) == 1 and '"event": "error"' in streamed[0] and IMAGE in streamed[0], streamed
        assert not any(e["type"] == "run-container" for e in
                       httpx.get(f"{url}/api/events", headers=auth, params={"app": APP}, timeout=10).json())
    finally:
        engine.close()


def test_the_cli_exits_2_with_one_message(service, tmp_path):
    import subprocess

    url, auth, _ = service
    app_yml = tmp_path / "app.yml"
    app_yml.write_text(f"name: {APP}\nimage: {IMAGE}\ncpus: 0.01\nmemory: 8m\ncount: 5\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, PAASOPS_TOKEN=auth["X-Access-Token"], XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "paasops", "deploy", str(app_yml)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).splitlines()
    assert [line for line in said if IMAGE in line] == [line for line in said if "error" in line.lower()]
    assert sum(IMAGE in line for line in said) == 1, said
    engine = docker.from_env()
    assert made(engine) == []
    engine.close()
