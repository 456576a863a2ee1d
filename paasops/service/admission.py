"""Which engines may join: etcd registrations proven by their certificate, never `local`, none an admin removed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import ConnectionFailed, ForbiddenError, NotFoundError, UserInputError
from ..pki import enrolled_at
from ..store.records import Engine
from .cluster import Cluster
from .engine_identity import IdentityMismatch, check_identity
from .registration import DENIED_SOURCE, REFUSED_EVENT, engine_endpoint, local_refusal

log = logging.getLogger(__name__)
RETRY_AFTER = (2.0, 5.0, 10.0, 30.0)  # seconds between checks of an engine that did not answer yet


class Admission:
    """The gate between etcd (and the API) and the cluster.

    An etcd registration of engine `<id>` joins, or moves an engine to another address, only once the
    Docker API at that address presents the cluster CA's server cert issued for `<id>`; `local` never
    comes from etcd or the API. An engine an admin removed leaves a tombstone in the store (an Engine
    record of source `denied`) that keeps it out until the host is bootstrapped again or an admin
    admits it. `remove_key(id)` deletes an etcd key; `current(id)` is etcd's current registration.
    """

    def __init__(self, cluster: Cluster, pki_dir: Path, *, timeout: float = 5.0,
                 remove_key: Callable[[str], object] = lambda engine_id: None,
                 current: Callable[[str], Engine | None] = lambda engine_id: None):
        self.cluster, self.store, self.pki_dir = cluster, cluster.store, pki_dir
        self.timeout = timeout
        self.remove_key, self.current = remove_key, current
        self._lock = threading.Lock()
        self._gate = threading.RLock()
        self._refused: dict[str, str] = {}  # engine id -> the last refusal recorded (one event per cause)
        self._timers: dict[str, threading.Timer] = {}  # engines that did not answer yet, checked again
        self._tries: dict[str, int] = {}

    # -- etcd -------------------------------------------------------------------------------
    def registered(self, record: Engine) -> None:
        """An etcd registration: add or update the engine if it may join, else refuse and record why."""
        with self._gate:  # an admin's removal never interleaves with an admission (the store would keep both)
            self._registered(record)

    def _registered(self, record: Engine) -> None:
        self._cancel_timer(record.id)
        refusal = local_refusal(record)
        if refusal:
            self.refuse(record, refusal)
            return
        if self._denied(record):
            return
        handle = self.cluster.engines.get(record.id)
        known = handle is not None and (handle.record.address, handle.record.docker_url) == \
            (record.address, record.docker_url)
        if not known:  # a new engine, or one moving to another address: it proves who it is first
            try:
                check_identity(record.id, engine_endpoint(record), self.pki_dir, self.timeout)
            except IdentityMismatch as exc:
                self.refuse(record, str(exc))
                return
            except ConnectionFailed as exc:
                self._retry_later(record, exc)
                return
        try:
            self.cluster.upsert_engine(record)
        except UserInputError as exc:  # e.g. TLS off and plain TCP not allowed
            self.refuse(record, str(exc))
            return
        self._refused.pop(record.id, None)
        self._settled(record.id)

    def _denied(self, record: Engine) -> bool:
        """True while an admin's removal of the engine holds (its key is removed again)."""
        stone = self.store.get_engine(record.id)
        if stone is None or stone.source != DENIED_SOURCE:
            return False
        enrolled = enrolled_at(self.pki_dir, record.id)
        if enrolled is not None and enrolled > float(stone.meta.get("denied_at", 0)):
            self.store.delete_engine(record.id)
            self.cluster.record("admit-engine", host=record.id, user="bootstrap",
                                message=f"engine {record.id} admitted again: bootstrapped after its removal")
            return False
        self.refuse(record, f"engine {record.id} was removed by {stone.meta.get('denied_by') or 'an admin'}; "
                            f"bootstrap the host again or `paasops hosts admit {record.id}`", event=False)
        self.remove_key(record.id)
        return True

    def refuse(self, record: Engine, reason: str, *, user: str | None = None, event: bool = True) -> None:
        """Log and record (once per engine and reason) why an engine may not join."""
        with self._lock:
            again = self._refused.get(record.id) == reason
            self._refused[record.id] = reason
            self._tries.pop(record.id, None)
        if again:
            return
        log.warning("refused engine %s: %s", record.id, reason)
        if event:
            self.cluster.record(REFUSED_EVENT, host=record.id, user=user, message=reason,
                                data={"address": record.address, "source": record.source})

    def _retry_later(self, record: Engine, exc: Exception) -> None:
        with self._lock:
            tries = self._tries.get(record.id, 0)
            self._tries[record.id] = tries + 1
            delay = RETRY_AFTER[min(tries, len(RETRY_AFTER) - 1)]
            timer = self._timers[record.id] = threading.Timer(delay, self._retry, args=(record,))
        timer.daemon = True
        log.info("engine %s not added yet: %s; checking again in %.0fs", record.id, exc, delay)
        timer.start()

    def _retry(self, record: Engine) -> None:
        latest = self.current(record.id)
        if latest is None or latest.meta.get("etcd_revision") != record.meta.get("etcd_revision"):
            return  # gone, or a newer value came (and is checked on its own)
        self.registered(record)

    def _cancel_timer(self, engine_id: str) -> None:
        with self._lock:
            timer = self._timers.pop(engine_id, None)
        if timer is not None:
            timer.cancel()

    def _settled(self, engine_id: str) -> None:
        with self._lock:
            self._tries.pop(engine_id, None)

    def stop(self) -> None:
        for engine_id in list(self._timers):
            self._cancel_timer(engine_id)

    # -- the API ----------------------------------------------------------------------------
    def add_by_hand(self, record: Engine, user: str | None):
        """POST /api/engines: never `local` (only `serve --local-engine` adds it)."""
        refusal = local_refusal(record)
        if refusal:
            self.refuse(record, refusal, user=user)
            raise ForbiddenError(refusal, where=f"engine {record.id}")
        return self.cluster.add_engine(record, user=user)

    def deny(self, engine_id: str, user: str | None) -> None:
        """An admin removes an engine: out of the cluster and etcd, and kept out (a tombstone in the store)."""
        self._cancel_timer(engine_id)
        with self._gate:
            stored = self.store.get_engine(engine_id)
            self.cluster.remove_engine(engine_id, user=user)  # NotFoundError when there is none
            self.store.put_engine(Engine(id=engine_id, address=stored.address if stored else "",
                                         source=DENIED_SOURCE, meta={"denied_at": time.time(), "denied_by": user}))
        self.remove_key(engine_id)

    def admit(self, engine_id: str, user: str | None) -> Engine | None:
        """An admin lets a removed engine come back; it joins at its next (checked) registration.
        Returns its current etcd registration, if any, which is checked now."""
        with self._gate:
            stone = self.store.get_engine(engine_id)
            if stone is None or stone.source != DENIED_SOURCE:
                raise NotFoundError(f"engine {engine_id!r} was not removed by an admin", where="engines")
            self.store.delete_engine(engine_id)
        self._refused.pop(engine_id, None)
        self.cluster.record("admit-engine", host=engine_id, user=user,
                            message=f"engine {engine_id} admitted again by {user or 'an admin'}")
        current = self.current(engine_id)
        if current is not None:
            self.registered(replace(current))
        return current
