"""Registry sync against a real etcd: listing, watch, deletes, lease expiry, publish, restarts."""

from __future__ import annotations

import json
import logging
import queue
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pyetcd
import pytest

from paasops.lab.etcd import ensure_etcd, stop_etcd
from paasops.pki import agent_cert_for, etcd_client_files
from paasops.service.registry import RegistrySync
from paasops.store.records import Engine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "bin" / "paasops-register"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateEtcd:
    """A real etcd of our own on 127.0.0.1 and free ports (TLS, client certs of its own etcd CA),
    restartable on its data dir."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.pki_dir = state_dir / "pki"
        self.port, self.peer_port = free_port(), free_port()
        self.url = ""

    def start(self) -> str:
        self.url = ensure_etcd(self.state_dir, listen_ip="127.0.0.1", client_port=self.port,
                               peer_port=self.peer_port, pki_dir=self.pki_dir)
        return self.url

    def stop(self):
        stop_etcd(self.state_dir)

    def tls(self) -> dict:
        """RegistrySync's TLS arguments: the service's etcd client cert."""
        files = etcd_client_files(self.pki_dir)
        return {"ca_cert": str(files.ca), "cert_cert": str(files.cert), "cert_key": str(files.key)}

    def client(self):
        return pyetcd.client("127.0.0.1", self.port, timeout=5, **self.tls())


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    server = PrivateEtcd(tmp_path_factory.mktemp("etcd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"/paasops-test/{uuid.uuid4().hex[:8]}/engines/"


class Seen:
    """on_put / on_delete recorder."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()
        self.puts: dict[str, Engine] = {}
        self.deletes: list[str] = []

    def on_put(self, engine: Engine):
        self.puts[engine.id] = engine
        self.q.put(("put", engine.id, time.monotonic()))

    def on_delete(self, engine_id: str):
        self.deletes.append(engine_id)
        self.q.put(("delete", engine_id, time.monotonic()))

    def wait(self, kind: str, engine_id: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {kind} of {engine_id} within {timeout}s "
                    f"(puts {sorted(self.puts)}, deletes {self.deletes})") from None
            if got[:2] == (kind, engine_id):
                return got[2]


def value(engine_id: str, address: str = "10.0.0.5", **extra) -> str:
    return json.dumps({"id": engine_id, "address": address, "docker_port": 2376, "cpus": 4,
                       "memory_mb": 4096, "labels": {"zone": "a"}, "tls": True,
                       "registered_at": "2024-01-01T00:00:00+00:00", **extra})


def agent_register(etcd: PrivateEtcd, prefix: str, engine_id: str, ttl: int,
                   config_dir: Path) -> dict:
    """Register once with the real agent (stdlib python, etcd's JSON gateway)."""
    config = config_dir / f"register-{engine_id}.json"
    cert, key = agent_cert_for(etcd.pki_dir, engine_id)
    (config_dir / f"{engine_id}-cert.pem").write_bytes(cert)
    (config_dir / f"{engine_id}-key.pem").write_bytes(key)
    config.write_text(json.dumps({"prefix": prefix, "etcd_cacert": str(etcd_client_files(etcd.pki_dir).ca),
                                  "etcd_cert": str(config_dir / f"{engine_id}-cert.pem"),
                                  "etcd_key": str(config_dir / f"{engine_id}-key.pem")}))
    done = subprocess.run(
        ["/usr/bin/python3", "-I", str(AGENT), "--config", str(config), "--once",
         "--etcd", etcd.url, "--id", engine_id,
         "--address", "127.0.0.1", "--ttl", str(ttl)],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def sync_factory(etcd, prefix):
    made = []

    def make(**kwargs):
        seen = Seen()
        sync = RegistrySync([etcd.url], prefix=prefix, on_put=seen.on_put,
                            on_delete=seen.on_delete, **etcd.tls(), **kwargs)
        made.append(sync)
        return sync, seen

    yield make
    for sync in made:
        sync.stop()


def test_initial_listing_and_malformed_values_ignored(etcd, prefix, sync_factory, caplog):
    client = etcd.client()
    client.put(prefix + "e1", value("e1", "10.0.0.1"))
    client.put(prefix + "e2", value("e2", "10.0.0.2", docker_port=2377, tls=False))
    client.put(prefix + "bad", b"{not json")
    client.put(prefix + "nocpu", value("nocpu", cpus="many"))
    client.put(prefix + "e3/nested", value("e3"))
    sync, seen = sync_factory()
    with caplog.at_level(logging.WARNING, logger="paasops.service.registry"):
        assert sync.start(wait=5)
    assert sorted(seen.puts) == ["e1", "e2"]
    e1, e2 = seen.puts["e1"], seen.puts["e2"]
    assert (e1.address, e1.docker_url, e1.cpus, e1.memory_mb, e1.labels, e1.source) == \
        ("10.0.0.1", "https://10.0.0.1:2376", 4.0, 4096, {"zone": "a"}, "etcd")
    assert e2.docker_url == "tcp://10.0.0.2:2377" and e2.tls is False  # plain TCP, as Docker spells it
    logged = caplog.text
    assert "bad" in logged and "not JSON" in logged
    assert "nocpu" in logged and "cpus" in logged
    assert sync.has("e1") and not sync.has("bad")


def test_new_key_reaches_on_put_within_a_second_and_delete_is_seen(etcd, prefix, sync_factory):
    sync, seen = sync_factory()
    assert sync.start()
    client = etcd.client()
    put_at = time.monotonic()
    client.put(prefix + "fresh", value("fresh"))
    assert seen.wait("put", "fresh", timeout=1.0) - put_at < 1.0
    client.put(prefix + "fresh", value("fresh", "10.9.9.9"))  # an update is a put too
    seen.wait("put", "fresh", timeout=1.0)
    assert seen.puts["fresh"].address == "10.9.9.9"
    deleted_at = time.monotonic()
    client.delete(prefix + "fresh")
    assert seen.wait("delete", "fresh", timeout=1.0) - deleted_at < 1.0
    assert not sync.has("fresh")


def test_malformed_value_in_the_watch_is_logged_and_ignored(etcd, prefix, sync_factory, caplog):
    sync, seen = sync_factory()
    assert sync.start()
    client = etcd.client()
    with caplog.at_level(logging.WARNING, logger="paasops.service.registry"):
        client.put(prefix + "wrongid", value("someone-else"))
        client.put(prefix + "good", value("good"))
        seen.wait("put", "good", timeout=1.0)
    assert "wrongid" not in seen.puts
    assert "differs from the key" in caplog.text


def test_lease_expiry_of_a_real_agent_registration_is_a_delete(etcd, prefix, sync_factory,
                                                                tmp_path):
    sync, seen = sync_factory()
    assert sync.start()
    registered = agent_register(etcd, prefix, "agent-host", ttl=2, config_dir=tmp_path)
    assert registered["key"] == prefix + "agent-host"
    seen.wait("put", "agent-host", timeout=1.0)
    assert seen.puts["agent-host"].address == "127.0.0.1"
    assert seen.puts["agent-host"].docker_url == "https://127.0.0.1:2376"
    seen.wait("delete", "agent-host", timeout=2 + 3)  # nobody keeps the lease alive


def test_publish_never_overwrites_an_agents_key_and_keeps_its_own_alive(etcd, prefix,
                                                                         sync_factory, tmp_path):
    agent_register(etcd, prefix, "owned-by-agent", ttl=30, config_dir=tmp_path)
    sync, seen = sync_factory(ttl=2)
    assert sync.start()
    known = [Engine(id="owned-by-agent", address="10.1.1.1", docker_url="https://10.1.1.1:2376",
                    cpus=2, memory_mb=2048),
             Engine(id="manual", address="10.1.1.2", docker_url="https://10.1.1.2:2376",
                    cpus=8, memory_mb=8192, labels={"disk": "ssd"}),
             Engine(id="local", address="127.0.0.1", docker_url="unix:///var/run/docker.sock",
                    cpus=2, memory_mb=1024, source="local")]
    assert sync.publish(known) == ["manual"]
    client = etcd.client()
    raw, meta = client.get(prefix + "owned-by-agent")
    assert json.loads(raw)["address"] == "127.0.0.1"  # still the agent's value
    seen.wait("put", "manual", timeout=1.0)
    assert seen.puts["manual"].labels == {"disk": "ssd"}
    assert seen.puts["manual"].meta["published_by"] == "paasops-serve"
    assert client.get(prefix + "local") == (None, None)
    _, manual_meta = client.get(prefix + "manual")
    assert manual_meta.lease_id != 0
    time.sleep(5)  # 2.5 TTLs: only the sync's keepalive keeps it
    assert client.get(prefix + "manual")[0] is not None
    assert "manual" not in seen.deletes
    sync.stop()  # revokes the lease: what the service published leaves with it
    assert client.get(prefix + "manual") == (None, None)
    assert client.get(prefix + "owned-by-agent")[0] is not None


def test_remove_deletes_the_key(etcd, prefix, sync_factory):
    sync, seen = sync_factory()
    assert sync.start()
    etcd.client().put(prefix + "doomed", value("doomed"))
    seen.wait("put", "doomed", timeout=1.0)
    assert sync.remove("doomed")
    seen.wait("delete", "doomed", timeout=1.0)
    assert etcd.client().get(prefix + "doomed") == (None, None)


def test_watch_survives_an_etcd_restart(tmp_path, prefix):
    server = PrivateEtcd(tmp_path / "etcd")
    server.start()
    seen = Seen()
    sync = RegistrySync([server.url], prefix=prefix, on_put=seen.on_put,
                        on_delete=seen.on_delete, ttl=10, **server.tls())
    try:
        server.client().put(prefix + "before", value("before"))
        server.client().put(prefix + "goes-away", value("goes-away"))
        assert sync.start()
        assert sync.publish([Engine(id="published", address="10.2.2.2", cpus=1,
                                    memory_mb=512)]) == ["published"]
        server.stop()
        time.sleep(1.5)
        server.start()
        # Changed right after the restart, likely before the sync is back: the re-list or
        # the watch from the listed revision must report both.
        server.client().delete(prefix + "goes-away")
        server.client().put(prefix + "during", value("during"))
        seen.wait("delete", "goes-away", timeout=8)
        seen.wait("put", "during", timeout=8)
        time.sleep(0.5)  # the sync is settled back on its watch by now
        put_at = time.monotonic()
        server.client().put(prefix + "after", value("after"))
        assert seen.wait("put", "after", timeout=1.0) - put_at < 1.0
        assert server.client().get(prefix + "published")[0] is not None
        assert sync.has("before") and sync.has("published")
    finally:
        sync.stop()
        server.stop()
