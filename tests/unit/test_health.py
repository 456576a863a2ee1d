"""Unit tests of the heartbeat hysteresis: rounds of signals in, transitions out."""

from __future__ import annotations

import random

import pytest

from paasops.service.health import HealthTracker, Signals, Transition

# One character per round:
#   i = ICMP answered, no Docker ping    - = ICMP unanswered
#   a = ICMP answered, Docker API ok     d = ICMP answered, Docker API failed
#   L = ICMP lost, Docker API ok         x = ICMP lost, Docker API failed
ROUND = {"i": Signals(True), "-": Signals(False), "a": Signals(True, True),
         "d": Signals(True, False), "L": Signals(False, True), "x": Signals(False, False)}

# (name, rounds, expected transitions as (round index, old, new)), K=3 and M=2.
CASES = [
    ("first answers bring unknown up after M", "ii", [(1, "unknown", "up")]),
    ("one answer is not enough", "i", []),
    ("unknown goes down after K misses", "---", [(2, "unknown", "down")]),
    ("down after K consecutive misses", "ii---", [(1, "unknown", "up"), (4, "up", "down")]),
    ("K-1 misses do nothing", "ii--i--i--", [(1, "unknown", "up")]),
    ("a lone answer between misses does not count as return", "ii---i-i-",
     [(1, "unknown", "up"), (4, "up", "down")]),
    ("up again after M answers", "ii---ii",
     [(1, "unknown", "up"), (4, "up", "down"), (6, "down", "up")]),
    ("misses after the return start a fresh count", "ii---ii--i",
     [(1, "unknown", "up"), (4, "up", "down"), (6, "down", "up")]),
    ("more misses while down change nothing", "ii------",
     [(1, "unknown", "up"), (4, "up", "down")]),
    ("degraded after K failed API pings while ICMP answers", "aaddd",
     [(1, "unknown", "up"), (4, "up", "degraded")]),
    ("K-1 failed API pings are tolerated", "aaddaddadd", [(1, "unknown", "up")]),
    ("degraded recovers after M good API pings", "aadddaa",
     [(1, "unknown", "up"), (4, "up", "degraded"), (6, "degraded", "up")]),
    ("a single good API ping does not recover", "aadddadd",
     [(1, "unknown", "up"), (4, "up", "degraded")]),
    ("rounds without a Docker ping keep the API streak", "aaddid",
     [(1, "unknown", "up"), (5, "up", "degraded")]),
    ("degraded goes down when ICMP stops too", "aaddd---",
     [(1, "unknown", "up"), (4, "up", "degraded"), (7, "degraded", "down")]),
    ("a host returning with a dead API is degraded, never up", "aa---dd",
     [(1, "unknown", "up"), (4, "up", "down"), (6, "down", "degraded")]),
    ("a host returning with a live API is up", "aa---aa",
     [(1, "unknown", "up"), (4, "up", "down"), (6, "down", "up")]),
    ("API failures before going down are forgotten on return", "aadd---aa",
     [(1, "unknown", "up"), (6, "up", "down"), (8, "down", "up")]),
    ("a failed API ping starts degraded from unknown", "id", [(1, "unknown", "degraded")]),
    ("lost echoes with a live Docker API are not misses", "aaLLLLaL", [(1, "unknown", "up")]),
    ("lost echoes with a live API do not break a miss streak either", "aa-L--",
     [(1, "unknown", "up"), (5, "up", "down")]),
    ("lost echoes and a dead API are misses", "aaxxx", [(1, "unknown", "up"), (4, "up", "down")]),
    ("a down host needs echoes to return, an API answer alone is not enough", "aa---LLaa",
     [(1, "unknown", "up"), (4, "up", "down"), (8, "down", "up")]),
]


def run(rounds: str, tracker: HealthTracker | None = None) -> list[tuple[int, str, str]]:
    tracker = tracker or HealthTracker(k_down=3, m_up=2)
    seen = []
    for i, ch in enumerate(rounds):
        t = tracker.observe("e1", ROUND[ch])
        if t:
            seen.append((i, t.old, t.new))
    return seen


@pytest.mark.parametrize("name,rounds,expected", CASES, ids=[c[0] for c in CASES])
def test_transitions(name, rounds, expected):
    assert run(rounds) == expected


@pytest.mark.parametrize("k,m,rounds,expected", [
    (1, 1, "i-i", [(0, "unknown", "up"), (1, "up", "down"), (2, "down", "up")]),
    (5, 3, "iii----i-----iii", [(2, "unknown", "up"), (12, "up", "down"), (15, "down", "up")]),
])
def test_thresholds_are_configurable(k, m, rounds, expected):
    assert run(rounds, HealthTracker(k_down=k, m_up=m)) == expected


def test_transition_carries_reason_and_event_type():
    tracker = HealthTracker()
    for s in ["i", "i", "-", "-"]:
        tracker.observe("e1", ROUND[s])
    down = tracker.observe("e1", Signals(False, lease=False))
    assert down == Transition("e1", "up", "down", down.reason)
    assert down.event_type == "host-down"
    assert "3 consecutive ICMP echoes unanswered" in down.reason
    assert "lease is gone" in down.reason
    engine_id, old, new, _ = down  # unpacks as (engine_id, old, new, reason)
    assert (engine_id, old, new) == ("e1", "up", "down")


def test_lease_still_renewed_is_reported_but_does_not_prevent_down():
    tracker = HealthTracker()
    run("ii--", tracker)
    down = tracker.observe("e1", Signals(False, lease=True))
    assert down.new == "down" and "still renewed" in down.reason


def test_lease_absence_alone_changes_nothing():
    tracker = HealthTracker()
    run("ii", tracker)
    for _ in range(10):
        assert tracker.observe("e1", Signals(True, lease=False)) is None
    assert tracker.status("e1") == "up"


def test_event_types():
    tracker = HealthTracker(k_down=1, m_up=1, k_degraded=1, m_recover=1)
    kinds = [t.event_type for t in (tracker.observe("e", ROUND[c]) for c in "a-ad-da") if t]
    assert kinds == ["host-up", "host-down", "host-up", "host-degraded", "host-down",
                     "host-degraded", "host-up"]


def test_round_of_many_engines():
    tracker = HealthTracker(k_down=2, m_up=1)
    assert tracker.round({"a": Signals(True), "b": Signals(False)}) == [
        Transition("a", "unknown", "up", "1 consecutive ICMP echoes answered")]
    moved = tracker.round({"a": Signals(False), "b": Signals(False)})
    assert [(t.engine_id, t.new) for t in moved] == [("b", "down")]
    assert tracker.statuses() == {"a": "up", "b": "down"}
    tracker.forget("b")
    assert tracker.status("b") == "unknown"


def test_rejects_zero_thresholds():
    with pytest.raises(ValueError, match="k_down"):
        HealthTracker(k_down=0)


def lossy_rounds(seed: int, rounds: int, loss: float) -> list[Signals]:
    rng = random.Random(seed)
    return [Signals(rng.random() >= loss) for _ in range(rounds)]


def test_no_flapping_under_5_percent_loss():
    # 120 one-second rounds (the acceptance run's 2 minutes) at 5% independent loss. K=3
    # needs 3 losses in a row: 0.05**3 = 1.25e-4 per round, about 1.5% over 120 rounds.
    rounds = lossy_rounds(seed=2024, rounds=120, loss=0.05)
    assert rounds.count(Signals(False)) >= 3  # the loss is really there
    tracker = HealthTracker(k_down=3, m_up=2)
    tracker.round({"e1": Signals(True)})
    tracker.round({"e1": Signals(True)})
    assert tracker.status("e1") == "up"
    transitions = [t for s in rounds for t in tracker.round({"e1": s})]
    assert transitions == []


def test_without_hysteresis_the_same_loss_flaps():
    # The same seeded loss with K=1, M=1: every lost echo is a down and an up.
    rounds = lossy_rounds(seed=2024, rounds=120, loss=0.05)
    tracker = HealthTracker(k_down=1, m_up=1)
    tracker.observe("e1", Signals(True))
    transitions = [t for s in rounds for t in tracker.round({"e1": s})]
    assert len(transitions) >= 4
