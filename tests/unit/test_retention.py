"""Event retention: pruning by age and by count, and the background thread that does it."""

from __future__ import annotations

import time

from paasops.service.retention import DAY, EventRetention, RetentionPolicy, prune_events
from paasops.service.settings import ServiceSettings
from paasops.store.records import Event
from paasops.store.sqlite import SqliteStore


def seeded(ages_in_days: list[float], now: float) -> SqliteStore:
    store = SqliteStore(":memory:")
    for n, age in enumerate(ages_in_days):
        store.add_event(Event(f"e{n}", time=now - age * DAY))
    return store


def types(store: SqliteStore) -> list[str]:
    return [e.type for e in store.list_events(limit=None)]


def test_prune_by_age_then_by_count():
    now = time.time()
    with seeded([40, 31, 29, 2, 1, 0.5], now) as store:  # e0 oldest … e5 newest
        assert prune_events(store, RetentionPolicy(max_age=30 * DAY, max_count=3), now) == 3
        assert types(store) == ["e5", "e4", "e3"]  # e0, e1 too old; e2 beyond the newest 3


def test_zero_means_no_limit():
    now = time.time()
    with seeded([400, 2, 1], now) as store:
        assert prune_events(store, RetentionPolicy(max_age=0, max_count=0), now) == 0
        assert prune_events(store, RetentionPolicy(max_age=0, max_count=2), now) == 1
        assert types(store) == ["e2", "e1"]


def test_defaults_are_30_days_and_100000_events():
    settings = ServiceSettings()
    assert (settings.event_max_age, settings.event_max_count) == (30 * DAY, 100_000)
    assert RetentionPolicy() == RetentionPolicy(settings.event_max_age, settings.event_max_count,
                                                settings.event_prune_interval)


def test_the_background_thread_prunes_at_start_and_every_interval():
    now = time.time()
    with seeded([40, 1], now) as store:
        retention = EventRetention(store, RetentionPolicy(max_age=30 * DAY, max_count=10, interval=0.05))
        retention.start()
        try:
            deadline = time.monotonic() + 5
            while types(store) != ["e1"] and time.monotonic() < deadline:
                time.sleep(0.01)
            assert types(store) == ["e1"]
            store.add_event(Event("old", time=now - 50 * DAY))  # pruned by a later round
            while "old" in types(store) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert types(store) == ["e1"]
        finally:
            retention.stop()
        assert retention._thread is None
