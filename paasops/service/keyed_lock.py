"""One lock per key, made on first use: per-app locks, per-(engine, image) copies, per-host start slots."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

L = TypeVar("L")


class KeyedLocks(Generic[L]):
    """`locks[key]` is the same lock for the same key, for as long as this object lives.

    `factory` makes a key's lock (a `threading.Lock` by default; a bounded semaphore works too).
    Keys are never forgotten: the number of keys (apps, engines × images, hosts) stays small.
    """

    def __init__(self, factory: Callable[[], L] = threading.Lock):  # type: ignore[assignment]
        self._factory = factory
        self._locks: dict[Hashable, L] = {}
        self._guard = threading.Lock()

    def __getitem__(self, key: Hashable) -> L:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = self._factory()
            return lock

    def __contains__(self, key: Hashable) -> bool:
        with self._guard:
            return key in self._locks
