"""Docker's container events as data: which ones change the cache, which are kept, and their store form."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..vocabulary import LABEL_APP

# Container actions that change what the cache shows.
REFRESH = frozenset({"create", "start", "die", "stop", "kill", "pause", "unpause", "restart", "rename",
                     "update", "oom", "health_status"})
STORED = REFRESH | {"destroy"}


def event_action(raw: dict[str, Any]) -> str:
    """The action of a Docker event without its detail (`health_status: healthy` → `health_status`)."""
    return (raw.get("Action") or raw.get("status") or "").split(":")[0]


def event_container(raw: dict[str, Any]) -> str | None:
    """The id of the container a Docker event is about, if any."""
    return (raw.get("Actor") or {}).get("ID") or raw.get("id")


def normalise(engine_id: str, raw: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """A Docker event as the store keeps it (type = the action, tag docker); `now` when it has no time."""
    attrs = (raw.get("Actor") or {}).get("Attributes") or {}
    action = event_action(raw)
    data = {k: attrs[k] for k in ("image", "exitCode", "signal") if k in attrs}
    fallback = time.time() if now is None else now
    when = raw.get("timeNano", 0) / 1e9 or float(raw.get("time", fallback))
    return {"type": action, "tag": "docker", "host": engine_id, "container": event_container(raw),
            "app": attrs.get(LABEL_APP), "data": data,
            "message": f"{attrs.get('name', '')} {action}".strip(), "time": when}


class ContainerChanges:
    """A count of the container events the engines sent (after the cache took each): a waiter wakes on the
    next one instead of sleeping out a poll (a rolling update sees `health_status: healthy` at once)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.seen = 0

    def bump(self) -> None:
        with self._cond:
            self.seen += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Until an event after count `seen` came, or `timeout` seconds; the count now."""
        with self._cond:
            self._cond.wait_for(lambda: self.seen != seen, max(0.0, timeout))
            return self.seen
