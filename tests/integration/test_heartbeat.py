"""Heartbeats with real ICMP: loopback answers, an iptables drop and a cut network namespace."""

from __future__ import annotations

import queue
import subprocess
import threading
import time

import pytest

from paasops.service.heartbeat import Heartbeat

pytestmark = pytest.mark.integration

DROPPED = "127.77.0.9"  # loopback answers for every 127/8 address; iptables silences this one
NETNS, VETH_HOST, VETH_NS = "paasops-hb-test", "pshb0", "pshb1"
HOST_IP, NS_IP = "10.213.0.1", "10.213.0.2"  # our own test host, on a /30 of its own


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check)


class Recorder:
    """Collects transitions with the time they were reported."""

    def __init__(self):
        self.seen: queue.Queue = queue.Queue()
        self.all: list = []

    def __call__(self, transition):
        self.all.append(transition)
        self.seen.put((time.monotonic(), transition))

    def wait(self, engine_id: str, new: str, timeout: float) -> float:
        """The monotonic time `engine_id` became `new`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                at, t = self.seen.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{engine_id} did not become {new} within {timeout}s; "
                                     f"saw {self.all}") from None
            if t.engine_id == engine_id and t.new == new:
                return at


@pytest.fixture
def icmp_drop():
    """drop(addr) / restore(addr) with iptables; every rule is removed at teardown."""
    added: set[str] = set()

    def remove(address: str):
        while sh("iptables", "-D", "INPUT", "-d", address, "-p", "icmp", "-j", "DROP",
                 check=False).returncode == 0:
            pass

    def drop(address: str):
        sh("iptables", "-I", "INPUT", "-d", address, "-p", "icmp", "-j", "DROP")
        added.add(address)

    remove(DROPPED)  # a rule left by a killed run
    try:
        yield drop, remove
    finally:
        for address in added:
            remove(address)


@pytest.fixture
def netns_host():
    """A host in its own network namespace behind a veth pair; cut() and heal() its link."""
    def teardown():
        sh("ip", "link", "del", VETH_HOST, check=False)
        sh("ip", "netns", "del", NETNS, check=False)

    teardown()
    try:
        sh("ip", "netns", "add", NETNS)
        sh("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        sh("ip", "link", "set", VETH_NS, "netns", NETNS)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", VETH_HOST)
        sh("ip", "link", "set", VETH_HOST, "up")
        sh("ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_IP}/30", "dev", VETH_NS)
        sh("ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_NS, "up")

        def link(state: str):
            sh("ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_NS, state)

        yield lambda: link("down"), lambda: link("up")
    finally:
        teardown()


def running(hb: Heartbeat):
    hb.start()
    return hb


def test_loopback_addresses_come_up_and_stay_up():
    rec = Recorder()
    hb = Heartbeat(rec, interval=0.3)
    hb.set_targets({"e1": "127.0.0.1", "e2": "127.77.0.8", "e3": "localhost"})
    try:
        running(hb)
        for engine in ("e1", "e2", "e3"):
            rec.wait(engine, "up", timeout=3)
        time.sleep(1.5)
        assert hb.statuses() == {"e1": "up", "e2": "up", "e3": "up"}
        assert [t.new for t in rec.all] == ["up", "up", "up"]  # no flapping afterwards
        # localhost is 127.0.0.1: one echo serves both engines
        assert hb.last_round.addresses == 2 and hb.last_round.replies == 2
    finally:
        hb.stop()


@pytest.mark.parametrize("reprobe", [True, False], ids=["reprobe-suspects", "every-interval"])
def test_dropped_host_goes_down_after_k_misses_and_returns(icmp_drop, reprobe):
    drop, restore = icmp_drop
    rec = Recorder()
    hb = Heartbeat(rec, reprobe_suspects=reprobe)  # defaults: interval 1 s, K=3, M=2
    hb.set_targets({"victim": DROPPED, "bystander": "127.77.0.10"})
    try:
        running(hb)
        rec.wait("victim", "up", timeout=4)
        rec.wait("bystander", "up", timeout=4)
        cut = time.monotonic()
        drop(DROPPED)
        down = rec.wait("victim", "down", timeout=6) - cut
        # The first miss is the next full round's (within one interval) after its timeout;
        # the K-1 others come a probe tick apart: half an interval when suspects are
        # re-probed, a whole one otherwise.
        tick = hb.interval / 2 if reprobe else hb.interval
        k = hb.tracker.k_down
        assert (k - 1) * tick + hb.timeout - 0.1 <= down <= hb.interval + (k - 1) * tick \
            + hb.timeout + 0.3, down
        if reprobe:
            assert down < 3.0  # issue 3: down within 3 s at default settings
        assert hb.status("victim") == "down"
        healed = time.monotonic()
        restore(DROPPED)
        up = rec.wait("victim", "up", timeout=5) - healed
        assert up <= hb.tracker.m_up * hb.interval + 0.3, up
        assert hb.status("bystander") == "up"
        assert not [t for t in rec.all if t.engine_id == "bystander" and t.new != "up"]
        down_event = next(t for t in rec.all if t.new == "down")
        assert down_event.event_type == "host-down" and "3 consecutive" in down_event.reason
    finally:
        hb.stop()


def test_cut_network_namespace_host(netns_host):
    cut, heal = netns_host
    rec = Recorder()
    hb = Heartbeat(rec, interval=0.5)
    hb.set_targets({"nshost": NS_IP})
    try:
        running(hb)
        rec.wait("nshost", "up", timeout=3)
        cut()
        rec.wait("nshost", "down", timeout=3 * 0.5 + 0.4 + 1)
        heal()
        rec.wait("nshost", "up", timeout=2 * 0.5 + 1)
    finally:
        hb.stop()


def test_docker_api_failing_while_icmp_answers_is_degraded():
    api_alive = threading.Event()
    api_alive.set()
    calls: list[str] = []

    def docker_ping(engine_id: str) -> bool:
        calls.append(engine_id)
        return api_alive.is_set()

    rec = Recorder()
    hb = Heartbeat(rec, interval=0.3, docker_ping=docker_ping)
    hb.set_targets({"e1": "127.77.0.11"})
    try:
        running(hb)
        rec.wait("e1", "up", timeout=3)
        api_alive.clear()
        rec.wait("e1", "degraded", timeout=3)
        assert rec.all[-1].event_type == "host-degraded"
        api_alive.set()
        rec.wait("e1", "up", timeout=3)
        assert calls and set(calls) == {"e1"}
    finally:
        hb.stop()


def test_hung_docker_ping_counts_as_failed_and_is_not_stacked():
    release = threading.Event()
    started: list[float] = []

    def docker_ping(engine_id: str) -> bool:
        started.append(time.monotonic())
        release.wait(10)
        return True

    rec = Recorder()
    hb = Heartbeat(rec, interval=0.3, docker_ping=docker_ping, docker_timeout=0.1)
    hb.set_targets({"e1": "127.77.0.12"})
    try:
        running(hb)
        rec.wait("e1", "degraded", timeout=4)
        assert len(started) == 1  # the hung call is waited for, never doubled
        release.set()
        rec.wait("e1", "up", timeout=4)
    finally:
        release.set()
        hb.stop()


def test_targets_can_change_while_running():
    rec = Recorder()
    hb = Heartbeat(rec, interval=0.3)
    hb.set_targets({"a": "127.77.0.13"})
    try:
        running(hb)
        rec.wait("a", "up", timeout=3)
        hb.set_targets({"b": "127.77.0.14"})
        rec.wait("b", "up", timeout=3)
        time.sleep(0.4)
        assert hb.statuses() == {"b": "up"}
    finally:
        hb.stop()
