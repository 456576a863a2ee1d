"""HostGuard: a deploy gives up a host the moment it is down or suspect, queued or in flight (no engine)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from paasops.service.host_guard import HostGuard, HostLost
from paasops.vocabulary import DEGRADED, DOWN, SUSPECT, UP


def guard(**statuses: str) -> tuple[HostGuard, dict]:
    engines = {h: SimpleNamespace(status=s) for h, s in statuses.items()}
    return HostGuard(lambda: engines, poll=0.01), engines


def later(seconds: float, fn) -> None:
    threading.Timer(seconds, fn).start()


@pytest.mark.parametrize("status", [DOWN, SUSPECT])
def test_a_call_in_flight_is_given_up_when_the_host_is_lost(status):
    g, engines = guard(c=UP)
    release = threading.Event()
    later(0.1, lambda: setattr(engines["c"], "status", status))
    t0 = time.monotonic()
    with pytest.raises(HostLost, match=f"c is {status}"):
        g.call("c", lambda: release.wait(10))  # an engine that never answers
    assert time.monotonic() - t0 < 2  # not the engine's timeout
    release.set()


def test_a_call_returns_its_value_or_its_error_and_degraded_is_waited_for():
    g, engines = guard(c=DEGRADED)
    assert g.call("c", lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        g.call("c", lambda: 1 / 0)


def test_a_queued_replica_leaves_the_slot_queue_when_the_host_goes_down():
    g, engines = guard(c=UP)
    slots = threading.Semaphore(1)
    slots.acquire()  # every slot busy
    later(0.1, lambda: setattr(engines["c"], "status", DOWN))
    with pytest.raises(HostLost, match="queued replica placed elsewhere"):
        with g.slot("c", slots):
            pytest.fail("never reached")


def test_a_removed_engine_is_lost_and_a_free_slot_is_taken_and_given_back():
    g, engines = guard(c=UP)
    slots = threading.Semaphore(1)
    with g.slot("c", slots):
        assert not slots.acquire(blocking=False)
    assert slots.acquire(blocking=False)
    del engines["c"]
    assert g.lost("c") == "engine c was removed"
