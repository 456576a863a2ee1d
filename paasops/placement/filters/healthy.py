"""Filter: a host that is down or degraded takes no new replica."""

from __future__ import annotations

from paasops.placement.model import HostSnapshot, Request

NAME = "healthy"


def check(host: HostSnapshot, request: Request) -> str | None:
    if host.healthy:
        return None
    if host.status and host.status != "healthy":
        return f"unhealthy ({host.status})"
    return "unhealthy"
