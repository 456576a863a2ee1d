"""Filter: the host's labels satisfy every constraint of the request."""

from __future__ import annotations

from paasops.placement.labels import parse, violation
from paasops.placement.model import HostSnapshot, Request

NAME = "constraints"


def check(host: HostSnapshot, request: Request) -> str | None:
    for expr in request.constraints:
        reason = violation(parse(expr), host.labels)
        if reason is not None:
            return reason
    return None
