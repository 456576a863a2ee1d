"""Filter: every host port the replica publishes is still free on the host."""

from __future__ import annotations

from paasops.placement.model import HostSnapshot, Request

NAME = "ports"


def check(host: HostSnapshot, request: Request) -> str | None:
    if not request.ports:
        return None
    taken = sorted(host.used_ports.intersection(request.ports))
    if not taken:
        return None
    if len(taken) == 1:
        return f"port {taken[0]} in use"
    return f"ports {', '.join(map(str, taken))} in use"
