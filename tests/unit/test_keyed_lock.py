"""KeyedLocks: one lock per key, the same one each time, of the kind the factory makes."""

from __future__ import annotations

import threading

from paasops.service.keyed_lock import KeyedLocks


def test_same_key_same_lock_other_key_other_lock():
    locks = KeyedLocks()
    assert locks["web"] is locks["web"]
    assert locks["web"] is not locks["db"]
    assert locks["e1", "img"] is locks[("e1", "img")]
    assert "web" in locks and "other" not in locks


def test_a_semaphore_factory_bounds_each_key():
    slots = KeyedLocks(lambda: threading.Semaphore(2))
    a = slots["host-a"]
    assert a.acquire(blocking=False) and a.acquire(blocking=False)
    assert not a.acquire(blocking=False)  # two at once on host-a
    assert slots["host-b"].acquire(blocking=False)  # host-b has its own


def test_concurrent_first_use_makes_one_lock():
    locks = KeyedLocks()
    seen, barrier = [], threading.Barrier(8)

    def grab():
        barrier.wait()
        seen.append(locks["app"])

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(lock) for lock in seen}) == 1
