"""The reconcile lock against a real etcd: one holder at a time, kept alive while held, lapsing after a crash."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pyetcd
import pytest

from paasops.errors import ConflictError, ConnectionFailed
from paasops.service.reconcile_lock import LOCK_NAME, EtcdLock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    """A real single-member etcd on free ports: (host, port)."""
    work = tmp_path_factory.mktemp("etcd")
    port, peer_port = free_port(), free_port()
    url, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"
    with open(work / "etcd.log", "ab") as log:
        proc = subprocess.Popen(
            ["/usr/bin/etcd", "--name", "default", "--data-dir", str(work / "data"),
             "--listen-client-urls", url, "--advertise-client-urls", url, "--listen-peer-urls", peer,
             "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (work / "etcd.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                    if json.load(reply).get("health") == "true":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "etcd did not become healthy"
            time.sleep(0.1)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


def test_one_holder_at_a_time(etcd):
    with EtcdLock([etcd], name="t-one"):
        started = time.monotonic()
        with pytest.raises(ConflictError, match="another reconcile is running .*/locks/t-one"):
            with EtcdLock([etcd], name="t-one"):
                pass
        assert time.monotonic() - started < 2  # fails fast, never waits
    with EtcdLock([etcd], name="t-one"):  # released: free again
        pass


def test_the_lease_is_kept_alive_while_held(etcd):
    with EtcdLock([etcd], name="t-alive", ttl=2):
        time.sleep(4)  # twice the ttl: only the refresh keeps it
        with pytest.raises(ConflictError):
            with EtcdLock([etcd], name="t-alive"):
                pass


def test_a_crashed_holder_lets_go_after_the_ttl(etcd):
    client = pyetcd.client(*etcd)
    try:
        assert client.lock("t-crash", ttl=2).acquire(timeout=0)  # never refreshed nor released
        with pytest.raises(ConflictError):
            with EtcdLock([etcd], name="t-crash"):
                pass
        time.sleep(3.5)
        with EtcdLock([etcd], name="t-crash"):
            pass
    finally:
        client.close()


def test_the_next_endpoint_is_tried_and_no_etcd_refuses_the_run(etcd):
    dead = ("127.0.0.1", free_port())
    with EtcdLock([dead, etcd], name="t-next", timeout=1):
        pass
    with pytest.raises(ConnectionFailed, match="cannot take the reconcile lock: etcd unreachable"):
        with EtcdLock([dead], timeout=1):
            pass


def test_the_default_name(etcd):
    with EtcdLock([etcd]) as held:
        assert held._lock.key == f"/locks/{LOCK_NAME}"
