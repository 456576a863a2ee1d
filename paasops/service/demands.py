"""What each deployed app's replica asks placement for (what-if and headroom place by it); no I/O."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..errors import PaasopsError
from ..placement.whatif import Demand
from ..spec import AppSpec, parse_app_spec
from ..store.records import App
from .replicas import request_for

log = logging.getLogger(__name__)


def demand_of(spec: AppSpec) -> Demand:
    """What placement is asked for one replica of `spec`, and by which strategy."""
    return Demand(request_for(spec), spec.strategy)


def demands(records: Iterable[App]) -> dict[str, Demand]:
    """App -> its demand, from the specs the store keeps (placing needs no secret: none is opened).
    A record whose spec no longer parses is left out (logged): its replicas then show as having no spec."""
    out = {}
    for app in records:
        try:
            out[app.name] = demand_of(parse_app_spec(app.spec, source=f"app {app.name}"))
        except PaasopsError as exc:
            log.warning("placement demand: %s", exc)
    return out
