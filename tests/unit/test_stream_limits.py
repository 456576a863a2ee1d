"""Caps and timeouts of follows, the follows' life cycle, the engine event cursor and the count cap (no I/O)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from paasops.errors import RateLimited, UserInputError
from paasops.service.apps import AppManager
from paasops.service.docker_events import EventCursor
from paasops.service.stream_limits import StreamLimiter, StreamPolicy, wait_budget
from paasops.service.streams import DaemonPool, Streams


def test_the_per_account_cap_refuses_the_next_one_and_names_the_limit():
    limiter = StreamLimiter(StreamPolicy(per_account=2, total=10, retry_after=7))
    limiter.acquire("alice", "logs")
    limiter.acquire("alice", "logs")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("alice", "logs")
    assert "at most 2 per account" in str(refused.value) and str(refused.value).startswith("logs: ")
    assert refused.value.retry_after == 7 and refused.value.http_status == 429
    limiter.acquire("bob")  # another account is not held back by alice's
    assert (limiter.open_for("alice"), limiter.open_for("bob"), limiter.total) == (2, 1, 3)


def test_the_total_cap_holds_across_accounts():
    limiter = StreamLimiter(StreamPolicy(per_account=5, total=3))
    for account in ("a", "b", "c"):
        limiter.acquire(account)
    with pytest.raises(RateLimited, match="already has 3 streams open, its limit"):
        limiter.acquire("d")
    assert limiter.open_for("d") == 0 and limiter.total == 3  # a refusal takes nothing


def test_a_release_gives_the_place_back():
    limiter = StreamLimiter(StreamPolicy(per_account=1, total=1))
    limiter.acquire("alice")
    limiter.release("alice")
    limiter.acquire("alice")
    limiter.release("alice")
    limiter.release("alice")  # one release too many never makes room beyond the cap
    assert limiter.total == 0
    limiter.acquire("alice")
    with pytest.raises(RateLimited):
        limiter.acquire("alice")


def test_concurrent_acquires_never_pass_the_cap():
    limiter = StreamLimiter(StreamPolicy(per_account=50, total=50))
    granted = []

    def take():
        try:
            limiter.acquire("alice")
            granted.append(1)
        except RateLimited:
            pass

    threads = [threading.Thread(target=take) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 50 == limiter.total


@pytest.mark.parametrize("idle, lifetime, started, last, now, expected", [
    (300, 0, 0, 0, 0, 300),  # fresh: the whole idle timeout
    (300, 0, 0, 100, 250, 150),  # output at 100: idle ends at 100 + 300 = 400; 400 - 250
    (300, 0, 0, 0, 301, -1),  # idle past: end now
    (0, 0, 0, 0, 10**6, None),  # no bound: wait forever
    (300, 1000, 0, 900, 950, 50),  # lifetime ends at 1000, before idle (900 + 300 = 1200): 1000 - 950
    (0, 60, 10, 10, 20, 50),  # lifetime only: 10 + 60 - 20
])
def test_wait_budget_is_the_sooner_of_idle_and_lifetime(idle, lifetime, started, last, now, expected):
    policy = StreamPolicy(idle_timeout=idle, max_lifetime=lifetime)
    assert wait_budget(policy, started=started, last_output=last, now=now) == expected


def test_a_follow_holds_its_place_until_closed_and_runs_its_closers_once():
    streams = Streams(StreamPolicy(per_account=1, total=4))
    follow = streams.open("alice", "logs")
    closed = []
    follow.on_end(lambda: closed.append("docker"))
    with pytest.raises(RateLimited):
        streams.open("alice", "logs")
    follow.close()
    follow.close()
    follow.end()
    assert closed == ["docker"] and streams.open_count == 0 and streams.limiter.total == 0
    follow.on_end(lambda: closed.append("late"))  # a closer given after the end runs at once
    assert closed == ["docker", "late"]
    streams.open("alice", "logs").close()  # the place is free again


def test_end_all_ends_every_follow_and_refuses_new_ones():
    streams = Streams(StreamPolicy(per_account=4, total=8))
    follows = [streams.open(name, "logs") for name in ("alice", "alice", "bob")]
    ended = []
    for f in follows:
        f.on_end(lambda f=f: ended.append(f))
    streams.end_all()
    assert all(f.ended.is_set() for f in follows) and len(ended) == 3
    with pytest.raises(RateLimited, match="shutting down"):
        streams.open("carol", "events")
    assert streams.limiter.open_for("carol") == 0  # the refusal took no place
    for f in follows:
        f.close()
    assert streams.limiter.total == 0


def test_a_closer_that_fails_does_not_stop_the_others():
    streams = Streams()
    follow = streams.open("alice", "logs")
    ran = []
    follow.on_end(lambda: 1 / 0)
    follow.on_end(lambda: ran.append(True))
    follow.close()
    assert ran == [True]


def test_the_daemon_pool_runs_at_most_its_workers_at_once():
    pool = DaemonPool(2)
    release = threading.Event()
    running, peak, lock = [0], [0], threading.Lock()

    def work(n):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return n * 2

    futures = [pool.submit(work, n) for n in range(6)]
    release.set()
    assert [f.result(5) for f in futures] == [0, 2, 4, 6, 8, 10]
    assert peak[0] <= 2 and len(pool._threads) <= 2
    assert all(t.daemon for t in pool._threads)  # never joined at exit: a stuck read cannot hold it


def test_the_pool_hands_errors_to_the_future():
    future = DaemonPool(1).submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        future.result(5)


def _event(cid, action, nano):
    return {"id": cid, "Action": action, "timeNano": nano, "time": nano // 10**9}


def test_the_event_cursor_skips_what_the_engine_sends_again_after_a_reconnect():
    cursor = EventCursor()
    assert cursor.since() is None
    first = [_event("a", "start", 1_700_000_000_000000001), _event("b", "start", 1_700_000_000_000000001),
             _event("a", "die", 1_700_000_001_500000000)]
    assert [cursor.fresh(e) for e in first] == [True, True, True]
    assert cursor.since() == "1700000001.500000000"
    # reopened from `since`: the engine repeats the event at the cursor, then sends new ones
    again = [_event("a", "die", 1_700_000_001_500000000), _event("c", "start", 1_700_000_001_500000000),
             _event("a", "destroy", 1_700_000_002_000000000)]
    assert [cursor.fresh(e) for e in again] == [False, True, True]
    assert cursor.fresh(_event("z", "start", 1_600_000_000_000000000)) is False  # older than the cursor


class _Apps(AppManager):
    def __init__(self, max_count: int):
        super().__init__(SimpleNamespace(), images=None, max_count=max_count)  # type: ignore[arg-type]


@pytest.mark.parametrize("count, refused", [(0, None), (1000, None), (1001, "over this service's limit of 1000"),
                                            (3 * 10**6, "over"), (-1, ">= 0")])
def test_the_count_cap(count, refused):
    apps = _Apps(1000)
    if refused is None:
        apps.check_count(count)
        return
    with pytest.raises(UserInputError, match=refused) as exc:
        apps.check_count(count)
    assert exc.value.where == "count" and exc.value.exit_code == 2 and exc.value.http_status == 400


def test_a_dry_run_over_the_cap_is_refused_before_any_placement():
    apps = _Apps(5)  # SimpleNamespace cluster: any placement would fail on a missing attribute
    with pytest.raises(UserInputError, match="limit of 5"):
        apps.dry_run(None, 6)  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="limit of 5"):
        apps.scale("web", 6)
