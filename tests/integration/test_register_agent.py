"""bin/paasops-register against a real etcd: register, keep alive, heal, revoke, expire."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import jinja2
import pytest

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
    """A real single-member etcd on free ports; restartable on the same data dir."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(self.data_dir.parent / "etcd.log", "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/etcd", "--name", "default", "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir.parent / "etcd.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if json.load(r).get("health") == "true":
                        return
            except OSError:
                pass
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
        with urllib.request.urlopen(req, timeout=5) as r:
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
def etcd(tmp_path_factory):
    server = Etcd(tmp_path_factory.mktemp("etcd") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_etcd(tmp_path):
    server = Etcd(tmp_path / "etcd-data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def agents(tmp_path):
    """Start agents with a config; every one still running is killed at teardown."""
    started = []

    def start(config: dict, *flags: str) -> subprocess.Popen:
        n = len(started)
        path = tmp_path / f"register-{n}.json"
        path.write_text(json.dumps(config))
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
        engine_memory_mb=131072, register_ttl=30))
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
    log = proc.log_path.read_text()
    assert "is gone; registering again" in log and "is missing; putting it back" in log


def test_tries_endpoints_in_order(etcd, agents):
    dead = f"http://127.0.0.1:{free_port()}"
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
