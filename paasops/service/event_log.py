"""The service's event log: what happened (deploys, container operations, health), kept in the store."""

from __future__ import annotations

from typing import Any

from ..store.base import Store
from ..store.records import Event


class EventLog:
    """Records one event per operation; the one seam every part of the service records through."""

    def __init__(self, store: Store):
        self.store = store

    def record(self, type_: str, *, tag: str = "api", user: str | None = None, **fields: Any) -> Event:
        """Store an event of kind `type_` (tag: who caused it, e.g. api, health, docker) and return it."""
        return self.store.add_event(Event(type=type_, tag=tag, user=user, **fields))
