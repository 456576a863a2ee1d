"""Per-engine health from heartbeat signals: a pure hysteresis state machine, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ..vocabulary import DEGRADED, DOWN, HOST_EVENT_TYPES, SUSPECT, UNKNOWN, UP

EVENT_TYPES = HOST_EVENT_TYPES
__all__ = ["DEGRADED", "DOWN", "EVENT_TYPES", "SUSPECT", "UNKNOWN", "UP", "shown_status"]


def shown_status(health: str, lapsed: bool) -> str:
    """The status a host shows: its health, except that a lapsed etcd registration makes it `suspect`
    (kept, no new placements) until the registration comes back; a down host stays down."""
    return SUSPECT if lapsed and health != DOWN else health


class Signals(NamedTuple):
    """What one heartbeat round saw of one engine.

    docker is None when no Docker API ping was made (not configured, or the host is down);
    lease is None when the engine has no etcd registration to speak of.
    """

    icmp: bool
    docker: bool | None = None
    lease: bool | None = None


class Transition(NamedTuple):
    engine_id: str
    old: str
    new: str
    reason: str

    @property
    def event_type(self) -> str:
        """The event the caller records: host-up, host-down or host-degraded."""
        return EVENT_TYPES[self.new]


@dataclass
class EngineHealth:
    """Counters of one engine. Streaks count consecutive rounds of the same outcome."""

    status: str = UNKNOWN
    icmp_ok: int = 0
    icmp_miss: int = 0
    api_ok: int = 0
    api_fail: int = 0
    lease: bool | None = None


class HealthTracker:
    """Hysteresis over rounds of signals.

    Down after `k_down` consecutive ICMP misses; back after `m_up` consecutive answers.
    An engine that answers ICMP while `k_degraded` Docker API pings in a row fail is
    degraded; it is up again after `m_recover` good pings. The etcd lease never moves the
    state by itself (the service deletes a down host's key, so its absence proves nothing);
    it is reported in the reason, which tells a dead host (lease gone too) from a cut path
    (its agent still renews the lease).
    """

    def __init__(self, k_down: int = 3, m_up: int = 2, k_degraded: int | None = None,
                 m_recover: int | None = None):
        for name, value in (("k_down", k_down), ("m_up", m_up), ("k_degraded", k_degraded),
                            ("m_recover", m_recover)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self.k_down = k_down
        self.m_up = m_up
        self.k_degraded = k_degraded or k_down
        self.m_recover = m_recover or m_up
        self._engines: dict[str, EngineHealth] = {}

    def status(self, engine_id: str) -> str:
        health = self._engines.get(engine_id)
        return health.status if health else UNKNOWN

    def statuses(self) -> dict[str, str]:
        return {engine_id: h.status for engine_id, h in self._engines.items()}

    def health(self, engine_id: str) -> EngineHealth:
        return self._engines.setdefault(engine_id, EngineHealth())

    def forget(self, engine_id: str) -> None:
        self._engines.pop(engine_id, None)

    def round(self, signals: Mapping[str, Signals]) -> list[Transition]:
        """Feed one round for many engines; returns the transitions it caused."""
        found = (self.observe(engine_id, s) for engine_id, s in signals.items())
        return [t for t in found if t is not None]

    def observe(self, engine_id: str, signals: Signals) -> Transition | None:
        """Feed one round for one engine; returns a transition if its status changed."""
        h = self.health(engine_id)
        if signals.lease is not None:
            h.lease = signals.lease
        if signals.icmp:
            h.icmp_ok, h.icmp_miss = h.icmp_ok + 1, 0
            if signals.docker is True:
                h.api_ok, h.api_fail = h.api_ok + 1, 0
            elif signals.docker is False:
                h.api_ok, h.api_fail = 0, h.api_fail + 1
        elif signals.docker is True and h.status != DOWN:
            # The echo was lost but the Docker API answered over TCP in the same round: the host
            # is alive. Count neither a miss nor an echo, so random ICMP loss alone cannot take
            # a working host down (second signal); a cut host fails both and goes down.
            h.api_ok, h.api_fail = h.api_ok + 1, 0
        else:
            h.icmp_ok, h.icmp_miss = 0, h.icmp_miss + 1
        new, reason = self._next(h)
        if new == h.status:
            return None
        old, h.status = h.status, new
        if new == DOWN:
            h.api_ok = h.api_fail = 0  # the API must prove itself again after a return
        return Transition(engine_id, old, new, reason + self._lease_note(h, new))

    def _next(self, h: EngineHealth) -> tuple[str, str]:
        if h.status != DOWN and h.icmp_miss >= self.k_down:
            return DOWN, f"{h.icmp_miss} consecutive ICMP echoes unanswered"
        if h.status in (DOWN, UNKNOWN):
            if h.icmp_ok < self.m_up:
                return h.status, ""
            # Returning with a failing API goes straight to degraded: never placeable
            # until the API has answered.
            if h.api_fail:
                return DEGRADED, (f"answers ICMP ({h.icmp_ok} in a row) but the Docker API "
                                  f"ping failed")
            return UP, f"{h.icmp_ok} consecutive ICMP echoes answered"
        if h.status == UP and h.api_fail >= self.k_degraded:
            return DEGRADED, f"answers ICMP but {h.api_fail} Docker API pings in a row failed"
        if h.status == DEGRADED and h.api_ok >= self.m_recover:
            return UP, f"{h.api_ok} Docker API pings in a row answered"
        return h.status, ""

    @staticmethod
    def _lease_note(h: EngineHealth, new: str) -> str:
        if new != DOWN or h.lease is None:
            return ""
        return ("; its etcd lease is still renewed (path cut?)" if h.lease
                else "; its etcd lease is gone too")
