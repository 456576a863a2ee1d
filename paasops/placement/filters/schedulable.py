"""Filter: a host an admin drained takes no new replica, whatever its health."""

from __future__ import annotations

from paasops.placement.model import HostSnapshot, Request

NAME = "schedulable"


def check(host: HostSnapshot, request: Request) -> str | None:
    return None if host.schedulable else "drained (unschedulable until `paasops hosts undrain`)"
