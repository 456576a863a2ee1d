"""An engine with TLS off, for real: plain TCP (socat on loopback → the local dockerd) only if an admin allows it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import httpx
import pytest
from lab_support import free_port, local_service

from paasops.pki import ensure_ca, ensure_client_cert
from paasops.store import open_store

pytestmark = pytest.mark.integration
ADMIN_PASSWORD = "transport-admin-pw"
OPERATOR_PASSWORD = "transport-operator-pw"


@pytest.fixture(scope="module")
def plain_port():
    """The local dockerd's API over plain TCP on 127.0.0.1 only (what `tls: false` engines speak)."""
    if shutil.which("socat") is None:
        pytest.fail("socat is needed for this test: apt-get install socat")
    port = free_port()
    proc = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                             "UNIX-CONNECT:/var/run/docker.sock"])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "socat did not listen"
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("transport")
    ensure_client_cert(workdir / "pki", ensure_ca(workdir / "pki"))  # so a TLS attempt gets as far as TLS
    store = open_store(f"sqlite:///{workdir}/state.db")
    store.put_role("operator", ["/api/engines", "GET /api/account"])  # may add engines, is not admin
    store.close()

    def ready(url: str) -> bool:
        return httpx.get(f"{url}/healthz", timeout=1).json().get("engines") == 1

    with local_service(workdir, ADMIN_PASSWORD, ready) as url:
        yield url


def login(url: str, name: str, password: str) -> dict[str, str]:
    reply = httpx.post(f"{url}/api/login", json={"username": name, "password": password}, timeout=10)
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


@pytest.fixture(scope="module")
def admin(server):
    return login(server, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def operator(server, admin):
    reply = httpx.post(f"{server}/api/accounts", headers=admin, timeout=10,
                       json={"name": "op", "password": OPERATOR_PASSWORD, "role": "operator"})
    assert reply.status_code == 201, reply.text
    return login(server, "op", OPERATOR_PASSWORD)


def add(server: str, headers: dict, **body) -> httpx.Response:
    return httpx.post(f"{server}/api/engines", headers=headers, json={"address": "127.0.0.1", **body}, timeout=30)


def test_tls_off_without_insecure_tcp_is_refused(server, admin, plain_port):
    reply = add(server, admin, id="plain", port=plain_port, tls=False)
    assert reply.status_code == 400, reply.text
    assert "insecure_tcp: true" in reply.text
    assert "plain" not in {e["id"] for e in httpx.get(f"{server}/api/engines", headers=admin).json()}


def test_only_the_admin_role_may_allow_plain_tcp(server, operator, plain_port):
    reply = add(server, operator, id="plain", port=plain_port, tls=False, insecure_tcp=True)
    assert reply.status_code == 403, reply.text
    assert "role 'operator' may not add an engine over plain TCP" in reply.text


def test_an_engine_that_says_tls_is_spoken_to_with_tls(server, admin, plain_port):
    # the same plain port, registered as TLS: the service does mutual TLS, which a plain socket cannot answer
    reply = add(server, admin, id="tls-to-plain", port=plain_port)
    assert reply.status_code == 400, reply.text
    assert f"engine does not answer at https://127.0.0.1:{plain_port}" in reply.text


def test_an_admin_allowed_plain_tcp_engine_is_reached_over_plain_tcp(server, admin, plain_port):
    reply = add(server, admin, id="plain", port=plain_port, tls=False, insecure_tcp=True)
    assert reply.status_code == 201, reply.text
    engine = reply.json()
    assert engine["docker_url"] == f"tcp://127.0.0.1:{plain_port}"
    assert engine["status"] == "up" and engine["docker_version"] and not engine["error"]
    local = httpx.get(f"{server}/api/engines/local", headers=admin).json()
    assert engine["containers"] == local["containers"]  # the same dockerd, seen over TCP instead of the socket
    reply = httpx.delete(f"{server}/api/engines/plain", headers=admin)
    assert reply.status_code == 200, reply.text
