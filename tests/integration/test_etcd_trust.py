"""Authenticated registration on the bootstrapped lab: etcd wants client certs, the service checks each engine's cert."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from lab_support import ROOT, etcd_call, etcd_engine_keys, free_port, lab_exec, paasops, stop_serve

from paasops.client import ApiClient
from paasops.errors import PaasopsError
from paasops.lab.etcd import client_context, ensure_etcd, etcd_healthy, stop_etcd
from paasops.pki import EtcdFiles, agent_cert_for

ADMIN_PASSWORD = "trust-test-" + os.urandom(8).hex()
PREFIX = "/paasops/engines/"


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (httpx.TransportError, PaasopsError):
            pass
        time.sleep(step)
    return False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _value(engine_id: str, address: str) -> str:
    return json.dumps({"id": engine_id, "address": address, "docker_port": 2376, "cpus": 512,
                       "memory_mb": 1 << 20, "labels": {"zone": "secure"}, "tls": True})


def _as_agent(pki_dir: Path, engine_id: str, tmp_path: Path) -> ssl.SSLContext:
    """TLS as the agent of `engine_id` (its real client cert, as root on that host has it)."""
    cert, key = agent_cert_for(pki_dir, engine_id)
    (tmp_path / f"{engine_id}.pem").write_bytes(cert + key)
    context = ssl.create_default_context(cafile=str(EtcdFiles.in_dir(pki_dir).ca))
    context.load_cert_chain(str(tmp_path / f"{engine_id}.pem"))
    return context


class Serve:
    """A real `paasops serve` on the lab's etcd (TLS, certs from the pki dir), restartable on its state."""

    def __init__(self, lab, cli_env: dict, workdir: Path):
        self.lab, self.cli_env, self.workdir = lab, cli_env, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.api: ApiClient | None = None

    def start(self) -> ApiClient:
        log = open(self.workdir / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paasops", "serve", "--port", str(self.port), "--etcd", self.lab.etcd_endpoint(),
             "--state", f"sqlite:///{self.workdir / 'state.db'}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, **self.cli_env, "PAASOPS_ADMIN_PASSWORD": ADMIN_PASSWORD})
        log.close()

        def login() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            reply = httpx.post(f"{self.url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                               timeout=10)
            if reply.status_code == 200:
                self.api = ApiClient(self.url, token=reply.json()["token"])
            return reply.status_code == 200
        assert _wait(login, 60), self.log()
        assert self.api is not None
        return self.api

    def stop(self) -> None:
        if self.proc is not None:
            stop_serve(self.proc)

    def log(self) -> str:
        return (self.workdir / "serve.log").read_text(errors="replace")[-4000:]

    def ids(self) -> set[str]:
        assert self.api is not None
        return {e.id for e in self.api.engines()}

    def refusals(self, engine_id: str) -> list[str]:
        assert self.api is not None
        return [e.message for e in self.api.events(host=engine_id, type="engine-refused", limit=20)]


@pytest.fixture(scope="module")
def serve(lab, bootstrapped, cli_env, tmp_path_factory):
    server = Serve(lab, cli_env, tmp_path_factory.mktemp("trust"))
    server.start()
    assert _wait(lambda: server.ids() >= {"lab1", "lab2", "lab3"}, 30), server.log()
    yield server
    server.stop()


def test_etcd_refuses_a_put_without_a_valid_client_cert(lab, bootstrapped, pki_dir, tmp_path):
    endpoint = lab.etcd_endpoint()
    assert endpoint.startswith("https://")
    body = json.dumps({"key": _b64(PREFIX + "evil"), "value": _b64(_value("evil", "local"))}).encode()
    no_cert = ssl.create_default_context(cafile=str(EtcdFiles.in_dir(pki_dir).ca))
    for url, context in ((endpoint, no_cert), (endpoint.replace("https://", "http://"), None)):
        request = urllib.request.Request(url + "/v3/kv/put", body, {"Content-Type": "application/json"})
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(request, timeout=5, context=context).read()
    assert "evil" not in etcd_engine_keys(endpoint, pki_dir)
    # the agents on the hosts speak TLS with their own cert, its key readable by root only
    listing = lab_exec(lab, "lab1", "stat -c '%a %n' /etc/paasops/tls/*").stdout.split("\n")
    assert "600 /etc/paasops/tls/agent-key.pem" in listing
    config = json.loads(lab_exec(lab, "lab1", "cat /etc/paasops/register.json").stdout)
    assert config["etcd_endpoints"] == [endpoint] and config["etcd_cert"] == "/etc/paasops/tls/agent-cert.pem"


def test_a_key_for_another_engines_id_or_local_is_refused_and_recorded(serve, lab, pki_dir, tmp_path):
    lab1 = next(h for h in lab.hosts() if h.name == "lab1")
    lab2_address = next(h.address for h in lab.hosts() if h.name == "lab2")
    as_lab1 = _as_agent(pki_dir, "lab1", tmp_path)  # root on lab1 has its agent's cert
    endpoint = lab.etcd_endpoint()
    forged = {"evil": lab1.address,  # a new id at lab1's Docker, which presents lab1's cert
              "evil-local": "local",  # this machine's own Docker socket
              "lab2": lab1.address}  # lab2 moved to lab1's address
    try:
        for engine_id, address in forged.items():
            etcd_call(endpoint, pki_dir, "/kv/put", {"key": _b64(PREFIX + engine_id),
                                                     "value": _b64(_value(engine_id, address))}, context=as_lab1)
        assert _wait(lambda: all(serve.refusals(i) for i in forged), 15), serve.log()
        assert "presents the certificate of 'lab1', not of 'evil'" in serve.refusals("evil")[0]
        assert "this machine's own Docker socket" in serve.refusals("evil-local")[0]
        assert "presents the certificate of 'lab1', not of 'lab2'" in serve.refusals("lab2")[0]
        time.sleep(1)
        engines = {e.id: e for e in serve.api.engines()}
        assert "evil" not in engines and "evil-local" not in engines and "local" not in engines
        assert engines["lab2"].address == lab2_address and engines["lab1"].cpus != 512
        # lab2's agent puts its own value back (a forged value under its lease is not left there)
        assert _wait(lambda: etcd_engine_keys(endpoint, pki_dir)["lab2"]["address"] == lab2_address, 10)
        # by hand through the API, `local` is refused too (only `serve --local-engine` adds it)
        reply = httpx.post(f"{serve.url}/api/engines", json={"address": "local"},
                           headers={"X-Access-Token": serve.api.token or ""}, timeout=10)
        assert reply.status_code == 403 and "own Docker socket" in reply.text
        assert "local" not in serve.ids() and serve.refusals("local")
    finally:
        for engine_id in ("evil", "evil-local"):
            etcd_call(endpoint, pki_dir, "/kv/deleterange", {"key": _b64(PREFIX + engine_id)})
    serve.stop()  # nothing forged was stored: a restart on the same state finds the lab only
    serve.start()
    assert _wait(lambda: serve.ids() == {"lab1", "lab2", "lab3"}, 20), serve.log()
    assert next(e for e in serve.api.engines() if e.id == "lab2").address == lab2_address


def test_a_deleted_engine_stays_deleted_until_admitted_or_bootstrapped(serve, lab, pki_dir, cli_env):
    endpoint = lab.etcd_endpoint()
    assert _wait(lambda: "lab3" in serve.ids(), 10)
    assert serve.api.delete_engine("lab3").deleted == "lab3"
    assert "lab3" not in serve.ids()
    time.sleep(6)  # the agent on lab3 puts its key back every few seconds: it is removed again
    assert "lab3" not in serve.ids()
    assert _wait(lambda: "lab3" not in etcd_engine_keys(endpoint, pki_dir), 10)
    serve.stop()  # a restart lists etcd again, with the agent still writing its key
    serve.start()
    assert _wait(lambda: {"lab1", "lab2"} <= serve.ids(), 20), serve.log()
    time.sleep(6)
    assert "lab3" not in serve.ids(), serve.log()
    # an admin lets it back (`paasops hosts admit`): it joins at its next registration, its cert proving it is lab3
    as_admin = {**cli_env, "PAASOPS_SERVER": serve.url, "PAASOPS_TOKEN": serve.api.token or ""}
    unknown = paasops("hosts", "admit", "lab1", env=as_admin)  # lab1 was never removed
    assert unknown.returncode == 3 and "was not removed by an admin" in unknown.stderr
    admitted = paasops("hosts", "admit", "lab3", env=as_admin)
    assert admitted.returncode == 0 and "admitted engine lab3" in admitted.stdout, admitted.stderr
    assert _wait(lambda: "lab3" in serve.ids(), 15), serve.log()
    # removed again, then `paasops bootstrap` of that host lets it back too
    serve.api.delete_engine("lab3")
    time.sleep(4)
    assert "lab3" not in serve.ids()
    done = paasops("bootstrap", "-i", str(lab.inventory_path), "lab3", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _wait(lambda: "lab3" in serve.ids(), 20), serve.log()
    types = [e.type for e in serve.api.events(host="lab3", limit=50)]
    assert types.count("admit-engine") == 2 and "delete-engine" in types


def test_ensure_etcd_replaces_a_stale_plain_http_etcd_and_reuses_its_own(tmp_path):
    state = tmp_path / "lab"
    state.mkdir()
    port, peer = free_port(), free_port()
    plain = f"http://127.0.0.1:{port}"
    with open(state / "etcd.log", "ab") as log:  # what an older `paasops lab up` left running
        stale = subprocess.Popen(["etcd", "--name", "old", "--data-dir", str(state / "etcd-data"),
                                  "--listen-client-urls", plain, "--advertise-client-urls", plain,
                                  "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                                  "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                                  "--initial-cluster", f"old=http://127.0.0.1:{peer}"],
                                 stdout=log, stderr=log, start_new_session=True)
    (state / "etcd.pid").write_text(str(stale.pid))
    try:
        assert _wait(lambda: etcd_healthy(plain), 20)
        endpoint = ensure_etcd(state, "127.0.0.1", port, peer, pki_dir=tmp_path / "pki")
        assert endpoint == f"https://127.0.0.1:{port}" and stale.wait(10) is not None
        assert etcd_healthy(endpoint, context=client_context(tmp_path / "pki"))
        pid = (state / "etcd.pid").read_text()
        assert ensure_etcd(state, "127.0.0.1", port, peer, pki_dir=tmp_path / "pki") == endpoint
        assert (state / "etcd.pid").read_text() == pid  # the running one is reused
    finally:
        stop_etcd(state)
        if stale.poll() is None:
            stale.kill()


def test_serve_refuses_a_plain_http_etcd_unless_insecure_on_loopback(tmp_path):
    env = {"PAASOPS_PKI_DIR": str(tmp_path / "pki"), "PAASOPS_ADMIN_PASSWORD": ADMIN_PASSWORD}
    state = f"sqlite:///{tmp_path / 'state.db'}"
    done = paasops("serve", "--etcd", "http://10.0.0.5:2379", "--state", state, env=env, timeout=60)
    assert done.returncode == 2 and "is plain http" in done.stderr and "Traceback" not in done.stderr
    done = paasops("serve", "--etcd", "http://10.0.0.5:2379", "--insecure-etcd", "--state", state, env=env, timeout=60)
    assert done.returncode == 2 and "loopback only" in done.stderr
    # https, but no etcd CA in the pki dir, or a client cert that is not there: says which file is missing
    done = paasops("serve", "--etcd", "https://10.0.0.5:2379", "--state", state, env=env, timeout=60)
    assert done.returncode == 2 and "etcd/ca.pem" in done.stderr and "paasops bootstrap" in done.stderr
    done = paasops("serve", "--etcd", "https://10.0.0.5:2379", "--etcd-cacert", __file__, "--etcd-key", __file__,
                   "--etcd-cert", str(tmp_path / "nothing.pem"), "--state", state, env=env, timeout=60)
    assert done.returncode == 2 and "--etcd-cert: no file" in done.stderr and "nothing.pem" in done.stderr
    assert not (tmp_path / "state.db").exists()  # refused before anything was opened
