"""Feasibility filters, cheapest first; each says None (fits) or why a host cannot take a replica."""

from __future__ import annotations

from paasops.placement.filters import constraints, healthy, ports, resources, schedulable
from paasops.placement.model import HostSnapshot, Request

FILTERS = (schedulable, healthy, constraints, resources, ports)


def first_rejection(host: HostSnapshot, request: Request) -> tuple[str, str] | None:
    """(filter name, reason) of the first filter that rejects the host, or None if it fits."""
    for f in FILTERS:
        reason = f.check(host, request)
        if reason is not None:
            return f.NAME, reason
    return None
