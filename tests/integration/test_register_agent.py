"""bin/paasops-register against a real etcd: register, keep alive, heal, revoke, expire."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jinja2
import pytest

from paasops.lab.etcd import client_context, etcd_command, etcd_healthy
from paasops.pki import EtcdFiles, agent_cert_for

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "bin" / "paasops-register"
# The system python in isolated mode: proof the agent needs nothing beyond the standard library.
PYTHON = "/usr/bin/python3"
PREFIX = "/paasops/engines/"

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """A real single-member etcd on free ports (TLS, client certs of the module's etcd CA); restartable
    on the same data dir."""

    def __init__(self, data_dir: Path, pki_dir: Path):
        self.data_dir, self.pki_dir = data_dir, pki_dir
        self.port, self.peer_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        self.log = open(self.data_dir.parent / "etcd.log", "ab")
        self.proc = subprocess.Popen(
            etcd_command("default", self.data_dir, "127.0.0.1", self.port, self.peer_port, self.pki_dir),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir.parent / "etcd.log").read_text()[-2000:]
            if etcd_healthy(self.url, context=client_context(self.pki_dir)):
                return
            time.sleep(0.1)
        raise AssertionError("etcd did not become healthy")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def call(self, method: str, body: dict) -> dict:
        req = urllib.request.Request(self.url + "/v3" + method, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5, context=client_context(self.pki_dir)) as r:
            return json.load(r)

    def get(self, key: str) -> dict | None:
        """The key's {value, lease} or None."""
        kvs = self.call("/kv/range", {"key": b64(key)}).get("kvs") or []
        if not kvs:
            return None
        value = json.loads(base64.b64decode(kvs[0]["value"]))
        return {"value": value, "lease": kvs[0].get("lease")}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def agent_tls(pki_dir, tmp_path_factory) -> dict:
    """The agent's TLS settings: the etcd CA and a client cert of it (as bootstrap ships them)."""
    where = tmp_path_factory.mktemp("agent-tls")
    cert, key = agent_cert_for(pki_dir, "test-agent")
    (where / "agent-cert.pem").write_bytes(cert)
    (where / "agent-key.pem").write_bytes(key)
    return {"etcd_cacert": str(EtcdFiles.in_dir(pki_dir).ca), "etcd_cert": str(where / "agent-cert.pem"),
            "etcd_key": str(where / "agent-key.pem")}


@pytest.fixture(scope="module")
def etcd(tmp_path_factory, pki_dir):
    server = Etcd(tmp_path_factory.mktemp("etcd") / "data", pki_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_etcd(tmp_path, pki_dir):
    server = Etcd(tmp_path / "etcd-data", pki_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def agents(tmp_path, agent_tls):
    """Start agents with a config (the TLS files added unless it names its own); every one still running
    is killed at teardown."""
    started = []

    def start(config: dict, *flags: str) -> subprocess.Popen:
        n = len(started)
        path = tmp_path / f"register-{n}.json"
        path.write_text(json.dumps({**agent_tls, **config}))
        err = open(tmp_path / f"agent-{n}.log", "wb")
        proc = subprocess.Popen([PYTHON, "-I", str(AGENT), "--config", str(path), *flags],
                                stdout=subprocess.PIPE, stderr=err, env={"PATH": "/usr/bin:/bin"})
        proc.log_path = tmp_path / f"agent-{n}.log"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    log = proc.log_path.read_text() if proc is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log}")


def proc_cpus() -> int:
    return sum(1 for line in open("/proc/cpuinfo") if line.split(":")[0].strip() == "processor")


def proc_memory_mb() -> int:
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal")


def test_registers_detected_capacity_keeps_alive_and_sigterm_removes_key(etcd, agents):
    key = PREFIX + "detected"
    proc = agents({"etcd_endpoints": [etcd.url], "id": "detected", "address": "10.9.8.7",
                   "labels": {"zone": "a"}, "ttl": 2})
    entry = wait_for(lambda: etcd.get(key), 5, "registration", proc)
    value = entry["value"]
    assert {k: value[k] for k in ("id", "address", "docker_port", "labels", "tls")} == {
        "id": "detected", "address": "10.9.8.7", "docker_port": 2376,
        "labels": {"zone": "a"}, "tls": True}
    assert value["cpus"] == proc_cpus()
    assert value["memory_mb"] == proc_memory_mb()
    assert value["registered_at"].endswith("+00:00")
    ttl = int(etcd.call("/lease/timetolive", {"ID": entry["lease"]})["grantedTTL"])
    assert ttl == 2
    time.sleep(3 * ttl)  # well past the TTL: only keepalives can have kept it
    assert etcd.get(key) == entry
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert etcd.get(key) is None  # revoked at once, not left to expire
    log = proc.log_path.read_text()
    assert "registered " + key in log and "revoked lease" in log


def test_declared_capacity_from_rendered_template_and_flags_override(etcd, agents):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"),
                             undefined=jinja2.StrictUndefined)
    config = json.loads(env.get_template("register.json.j2").render(
        etcd_endpoints=[etcd.url], engine_id="declared", engine_address="10.0.0.3",
        docker_port=2377, engine_labels={"disk": "ssd"}, engine_cpus=64,
        engine_memory_mb=131072, register_ttl=30, etcd_cacert="/ca.pem"))
    assert (config["etcd_cacert"], config["etcd_cert"]) == ("/ca.pem", "/etc/paasops/tls/agent-cert.pem")
    config = {k: v for k, v in config.items() if not k.startswith("etcd_") or k == "etcd_endpoints"}
    proc = agents(config, "--id", "flagged", "--ttl", "3")
    entry = wait_for(lambda: etcd.get(PREFIX + "flagged"), 5, "registration", proc)
    assert etcd.get(PREFIX + "declared") is None
    fields = ("cpus", "memory_mb", "docker_port", "labels", "address")
    assert {k: entry["value"][k] for k in fields} == {
        "cpus": 64, "memory_mb": 131072, "docker_port": 2377, "labels": {"disk": "ssd"},
        "address": "10.0.0.3"}
    assert int(etcd.call("/lease/timetolive", {"ID": entry["lease"]})["grantedTTL"]) == 3
    proc.send_signal(signal.SIGINT)
    assert proc.wait(5) == 0
    assert etcd.get(PREFIX + "flagged") is None


def test_sigkill_lets_the_key_expire_within_ttl(etcd, agents):
    key = PREFIX + "killed"
    proc = agents({"etcd_endpoints": [etcd.url], "id": "killed", "address": "10.0.0.4", "ttl": 2})
    wait_for(lambda: etcd.get(key), 5, "registration", proc)
    proc.kill()
    proc.wait()
    killed_at = time.monotonic()
    assert etcd.get(key) is not None  # nobody revoked it: it is the lease that removes it
    wait_for(lambda: etcd.get(key) is None, 2 + 1.5, "the lease to expire")
    assert time.monotonic() - killed_at <= 3.5


def test_heals_a_revoked_lease_and_a_deleted_key(etcd, agents):
    key = PREFIX + "healer"
    proc = agents({"etcd_endpoints": [etcd.url], "id": "healer", "address": "10.0.0.5", "ttl": 3})
    first = wait_for(lambda: etcd.get(key), 5, "registration", proc)
    etcd.call("/lease/revoke", {"ID": first["lease"]})
    second = wait_for(lambda: (e := etcd.get(key)) and e["lease"] != first["lease"] and e, 4,
                      "re-registration under a new lease", proc)
    etcd.call("/kv/deleterange", {"key": b64(key)})
    third = wait_for(lambda: etcd.get(key), 4, "the key to be put back", proc)
    assert third["lease"] == second["lease"]
    # another etcd writer puts its own value under the agent's lease: the agent puts its own back
    forged = {**third["value"], "address": "10.6.6.6"}
    etcd.call("/kv/put", {"key": b64(key), "value": b64(json.dumps(forged)), "lease": third["lease"]})
    fourth = wait_for(lambda: (e := etcd.get(key)) and e["value"]["address"] == "10.0.0.5" and e, 4,
                      "its own value to be put back", proc)
    assert fourth["lease"] == third["lease"]
    log = proc.log_path.read_text()
    assert "is gone; registering again" in log and "is missing; putting it back" in log
    assert "overwritten with another value; putting it back" in log


def test_tries_endpoints_in_order(etcd, agents):
    dead = f"https://127.0.0.1:{free_port()}"
    proc = agents({"etcd_endpoints": [dead, etcd.url], "id": "fallback", "address": "10.0.0.6",
                   "ttl": 2})
    wait_for(lambda: etcd.get(PREFIX + "fallback"), 8, "registration via the second endpoint", proc)
    proc.terminate()
    assert proc.wait(5) == 0
    assert f"using etcd endpoint {etcd.url}" in proc.log_path.read_text()


def test_once_registers_and_leaves_the_lease_to_expire(etcd, agents):
    proc = agents({"etcd_endpoints": [etcd.url], "id": "once", "address": "10.0.0.7", "ttl": 2},
                  "--once")
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    printed = json.loads(out)
    assert printed["key"] == PREFIX + "once"
    assert etcd.get(PREFIX + "once")["lease"] == printed["lease"]
    wait_for(lambda: etcd.get(PREFIX + "once") is None, 4, "the lease to expire")


def test_bad_config_exits_2(etcd, agents):
    proc = agents({"etcd_endpoints": [etcd.url], "ttl": "ten"})
    assert proc.wait(5) == 2
    assert "ttl: expected a positive integer" in proc.log_path.read_text()


def test_plain_http_or_no_client_cert_exits_2(etcd, agents, tmp_path):
    plain = etcd.url.replace("https://", "http://")
    proc = agents({"etcd_endpoints": [plain], "id": "plain", "address": "10.0.0.9"})
    assert proc.wait(5) == 2
    assert f"{plain!r} is not https://" in proc.log_path.read_text()
    proc = agents({"etcd_endpoints": [etcd.url], "id": "nocert", "address": "10.0.0.9",
                   "etcd_cert": str(tmp_path / "missing.pem")})
    assert proc.wait(5) == 2
    assert "etcd_cert: no file" in proc.log_path.read_text()
    assert etcd.get(PREFIX + "plain") is None and etcd.get(PREFIX + "nocert") is None


def test_etcd_refuses_a_client_without_a_cert_of_its_ca(etcd, tmp_path):
    """etcd's own --client-cert-auth: no client cert, or one of another CA, and the put never lands."""
    import ssl

    from paasops.pki import etcd_client_files
    other = etcd_client_files(tmp_path / "other-pki")  # a CA etcd does not trust
    no_cert = ssl.create_default_context(cafile=str(EtcdFiles.in_dir(etcd.pki_dir).ca))
    foreign = ssl.create_default_context(cafile=str(EtcdFiles.in_dir(etcd.pki_dir).ca))
    foreign.load_cert_chain(str(other.cert), str(other.key))
    body = json.dumps({"key": b64(PREFIX + "evil"), "value": b64("{}")}).encode()
    for context in (no_cert, foreign):
        req = urllib.request.Request(etcd.url + "/v3/kv/put", body, {"Content-Type": "application/json"})
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(req, timeout=5, context=context).read()
    plain = urllib.request.Request(etcd.url.replace("https://", "http://") + "/v3/kv/put", body,
                                   {"Content-Type": "application/json"})
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(plain, timeout=5).read()
    assert etcd.get(PREFIX + "evil") is None


def test_survives_an_etcd_outage_longer_than_the_ttl(own_etcd, agents):
    key = PREFIX + "outage"
    proc = agents({"etcd_endpoints": [own_etcd.url], "id": "outage", "address": "10.0.0.8",
                   "ttl": 2})
    wait_for(lambda: own_etcd.get(key), 5, "registration", proc)
    own_etcd.stop()
    time.sleep(3.5)  # longer than the TTL
    own_etcd.start()
    wait_for(lambda: own_etcd.get(key), 6, "registration after the restart", proc)
    time.sleep(3)  # and it stays: the agent keeps the (new) lease alive
    assert own_etcd.get(key) is not None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert own_etcd.get(key) is None
    log = proc.log_path.read_text()
    assert "etcd unreachable" in log and "etcd reachable again" in log


def test_agent_dry_run_uses_only_the_standard_library(tmp_path):
    out = subprocess.run([PYTHON, "-I", "-S", str(AGENT), "--config", os.devnull, "--dry-run"],
                         capture_output=True, text=True)
    assert out.returncode == 2  # /dev/null is not a JSON object
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"id": "dry", "address": "10.0.0.9", "cpus": 2.5}))
    out = subprocess.run([PYTHON, "-I", "-S", str(AGENT), "--config", str(cfg), "--dry-run"],
                         capture_output=True, text=True, check=True)
    value = json.loads(out.stdout)
    assert value["cpus"] == 2.5 and value["memory_mb"] == proc_memory_mb()
