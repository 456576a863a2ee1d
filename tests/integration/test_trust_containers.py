"""Only paasops' containers, hardened user containers and hostile input, against a real `serve --local-engine`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from lab_support import local_service

from paasops.lab.hello_image import ensure_hello_image
from paasops.vocabulary import DEFAULT_PIDS_LIMIT

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:6]
APP = f"trust-{RUN}"
TEST_LABEL = "paasops-test.trust"  # not under `paasops.`: these containers are not paasops'
ADMIN_PW = "trust-admin-" + uuid.uuid4().hex
USER_PW = "trust-user-" + uuid.uuid4().hex
SPEC = {"name": APP, "image": "paasops/hello:latest", "command": ["sleep", "300"], "memory": "32m", "cpus": 0.1}


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    ensure_hello_image(client)
    yield client
    for c in client.containers.list(all=True, filters={"label": [f"{TEST_LABEL}={RUN}"]}):
        c.remove(force=True)
    for app in (APP, f"{APP}-low", f"{APP}-clash"):
        for c in client.containers.list(all=True, filters={"label": [f"paasops.app={app}"]}):
            c.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def url(engine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trust")

    def ready(url: str) -> bool:
        token = login(url, "admin", ADMIN_PW)
        return [e["status"] for e in call(url, token, "GET", "/api/engines").json()] == ["up"]

    with local_service(workdir, ADMIN_PW, ready) as url:
        yield url


def login(url: str, name: str, password: str) -> str:
    answer = httpx.post(f"{url}/api/login", json={"username": name, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def call(url: str, token: str, method: str, path: str, **kw) -> httpx.Response:
    headers = {"X-Access-Token": token, **kw.pop("headers", {})}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=120, **kw)


@pytest.fixture(scope="module")
def admin(url) -> str:
    return login(url, "admin", ADMIN_PW)


@pytest.fixture(scope="module")
def user(url, admin) -> str:
    added = call(url, admin, "POST", "/api/accounts", json={"name": "carol", "password": USER_PW, "role": "user"})
    assert added.status_code in (200, 201), added.text
    return login(url, "carol", USER_PW)


@pytest.fixture(scope="module")
def foreign(engine, url, admin):
    """A running container that paasops did not start (an infrastructure container, say), once the service sees it."""
    c = engine.containers.run("paasops/hello:latest", ["sleep", "300"], detach=True, name=f"infra-{RUN}",
                              labels={TEST_LABEL: RUN}, environment={"SECRET": "s3cret"})
    deadline = time.monotonic() + 15
    while c.id not in seen(url, admin, "?foreign=true"):
        assert time.monotonic() < deadline, "the service never saw the foreign container"
        time.sleep(0.2)
    return c


def seen(url: str, token: str, query: str = "") -> set[str]:
    return {c["id"] for c in call(url, token, "GET", f"/api/containers{query}").json()}


def test_a_user_cannot_see_read_or_act_on_a_container_paasops_did_not_start(url, user, foreign, engine):
    assert foreign.id not in seen(url, user)
    for method, path in (("GET", ""), ("GET", "/logs"), ("POST", "/stop"), ("POST", "/start"),
                         ("POST", "/restart"), ("DELETE", "")):
        for ref in (foreign.name, foreign.id[:12]):
            answer = call(url, user, method, f"/api/containers/{ref}{path}")
            assert answer.status_code == 403, (method, path, answer.text)
            assert "was not started by paasops" in answer.json()["error"] and "s3cret" not in answer.text
    looking = call(url, user, "GET", f"/api/containers/{foreign.name}?foreign=true")
    assert looking.status_code == 403 and "only an admin" in looking.json()["error"]
    assert call(url, user, "GET", "/api/containers?foreign=true").status_code == 403
    foreign.reload()
    assert foreign.status == "running"


def test_an_admin_may_look_at_a_foreign_container_but_not_act_on_it(url, admin, foreign):
    assert foreign.id not in seen(url, admin) and foreign.id in seen(url, admin, "?foreign=true")
    detail = call(url, admin, "GET", f"/api/containers/{foreign.name}?foreign=true")
    assert detail.status_code == 200 and detail.json()["id"] == foreign.id
    assert call(url, admin, "GET", f"/api/containers/{foreign.name}").status_code == 403
    for method, path in (("POST", "/stop"), ("DELETE", ""), ("GET", "/logs")):
        answer = call(url, admin, method, f"/api/containers/{foreign.name}{path}")
        assert answer.status_code == 403 and "not started by paasops" in answer.json()["error"], answer.text
    foreign.reload()
    assert foreign.status == "running"


def test_cli_ps_and_inspect_foreign(url, foreign, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, XDG_CONFIG_HOME=str(tmp_path), COLUMNS="200")

    def cli(*args, **kw):
        return subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60, **kw)

    assert cli("login", "-u", "admin", "--password-stdin", input=ADMIN_PW + "\n").returncode == 0
    assert foreign.name not in cli("ps", "-a").stdout
    assert foreign.name in cli("ps", "-a", "--foreign").stdout
    assert json.loads(cli("inspect", "--foreign", foreign.name, "-o", "json").stdout)["id"] == foreign.id
    refused = cli("stop", foreign.name)
    assert refused.returncode == 4 and "not started by paasops" in refused.stderr


def test_a_create_that_clashes_with_a_foreign_name_leaves_that_container_running(url, admin, engine):
    app = f"{APP}-clash"
    squatter = engine.containers.run("paasops/hello:latest", ["sleep", "300"], detach=True, name=f"{app}-1",
                                     labels={TEST_LABEL: RUN})
    answer = call(url, admin, "POST", "/api/containers", json={"spec": {**SPEC, "name": app}, "count": 1})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert not result["ok"] and result["replicas"][0]["status"] == "failed"
    assert "already in use" in result["replicas"][0]["error"]  # the engine's 409, said plainly
    squatter.reload()
    assert squatter.status == "running"  # not removed by the failed replica's clean-up
    assert engine.containers.list(all=True, filters={"label": [f"paasops.app={app}"]}) == []


@pytest.mark.parametrize("app, pids_limit", [(APP, DEFAULT_PIDS_LIMIT), (f"{APP}-low", 64)])
def test_user_containers_run_without_new_privileges_and_with_a_pids_limit(url, user, engine, app, pids_limit):
    spec = {**SPEC, "name": app, **({"pids_limit": pids_limit} if pids_limit != DEFAULT_PIDS_LIMIT else {})}
    answer = call(url, user, "POST", "/api/containers", json={"spec": spec, "count": 1})
    assert answer.status_code == 200 and answer.json()["ok"], answer.text
    host_config = engine.api.inspect_container(answer.json()["replicas"][0]["id"])["HostConfig"]
    assert host_config["SecurityOpt"] == ["no-new-privileges"]
    assert host_config["PidsLimit"] == pids_limit


@pytest.mark.parametrize("body, field", [
    ('{"spec": {"name": "x", "image": "y", "memory": 1e999}}', "memory"),
    ('{"spec": {"name": "x", "image": "y"}, "count": true}', "count"),
    ('{"spec": {"name": "x", "image": "y", "count": true}}', "count"),
    ('{"spec": {"name": "x", "image": "hello\\u0000world"}}', "image"),
    ('{"spec": {"name": "x", "image": "hello\\nworld"}}', "image"),
])
def test_hostile_deploy_input_is_a_400_naming_the_field(url, user, body, field):
    answer = call(url, user, "POST", "/api/containers", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and field in answer.json()["error"], answer.text


def test_a_5000_digit_tail_is_a_400(url, user):
    answer = call(url, user, "GET", f"/api/containers/{APP}-1/logs", params={"tail": "9" * 5000})
    assert answer.status_code == 400 and answer.json()["error"].startswith("tail: "), answer.text


@pytest.mark.parametrize("port", ["80:80", "22:80", "2376:80", "2379:80", "5002:80", "1023:80"])
def test_a_user_may_not_publish_privileged_or_paasops_ports(url, user, admin, port):
    body = {"spec": {**SPEC, "ports": [port]}, "dry_run": True}
    refused = call(url, user, "POST", "/api/containers", json=body)
    assert refused.status_code == 403 and refused.json()["error"].startswith("spec.ports: "), refused.text
    assert call(url, admin, "POST", "/api/containers", json=body).status_code == 200
    assert call(url, user, "POST", "/api/containers", json={**body, "spec": {**SPEC, "ports": ["8080:80"]}}) \
        .status_code == 200


def test_cli_deploy_of_a_binary_or_oversized_app_yml_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env["PAASOPS_SERVER"] = "http://127.0.0.1:9"  # never reached: the file is refused first
    binary, big = tmp_path / "binary.yml", tmp_path / "big.yml"
    binary.write_bytes(b"name: web\nimage: \xff\xfe\x00\x01\n")
    big.write_bytes(b"name: web\nimage: x\n" + b"#" * (12 * 1024 * 1024))
    for path, message in ((binary, "is not UTF-8 text"), (big, "is larger than 1024 KiB")):
        done = subprocess.run([sys.executable, "-m", "paasops", "deploy", str(path)], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=60)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done
