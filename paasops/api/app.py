"""Build the FastAPI application around a running service."""

from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..results import Healthz
from . import errors
from .body_guard import BodyGuard
from .routes import accounts, apps, certs, cluster, containers, engines, ops, rebalance, routing, tokens
from .routes import plan as what_if


def create_app(service) -> FastAPI:
    app = FastAPI(title="paasops", version=__version__,
                  description="Scheduler/monitor of a private Docker PaaS: engines, placement, deploys, events.")
    app.state.service = service
    errors.install(app)
    app.add_middleware(BodyGuard, max_body=service.settings.max_request_body, authenticate=service.authenticator)
    for module in (accounts, tokens, engines, cluster, containers, apps, certs, routing):
        app.include_router(module.router)
    app.include_router(ops.router)
    app.include_router(what_if.router)
    app.include_router(rebalance.router)

    @app.get("/healthz", tags=["service"], response_model=Healthz)
    def healthz() -> Healthz:
        store = service.store_status()
        return Healthz(ok=store == "up", engines=len(service.cluster.engines), store=store)

    return app
