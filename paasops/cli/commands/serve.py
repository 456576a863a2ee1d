"""`paasops serve`: run the scheduler/monitor service and its HTTP API."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import typer

from ...errors import UserInputError
from ..common import LogLevel
from ..errors import report_errors
from ..flags import is_loopback, parse_weights

app = typer.Typer()
SHUTDOWN_GRACE = 2  # seconds requests may take to finish after SIGTERM (the follows are ended at once)


def serve_settings(**flags: Any):
    """ServiceSettings from the flags given (absent flags leave the PAASOPS_* environment and defaults)."""
    from pydantic import ValidationError

    from ...service.settings import ServiceSettings

    weights = flags.pop("weights", None)
    if weights:
        flags["weight_cpu"], flags["weight_memory"] = parse_weights(weights)
    given = {k: v for k, v in flags.items() if v not in (None, [])}
    try:
        return ServiceSettings(**given)
    except ValidationError as exc:
        raise UserInputError("; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
                                       for e in exc.errors()), where="serve") from None


def check_listen(host: str, tls_cert: Path | None, tls_key: Path | None, insecure_http: bool) -> None:
    """Plain HTTP only on loopback: elsewhere tokens would cross the network in clear."""
    if tls_key is not None and tls_cert is None:
        raise UserInputError("a key without a certificate: give --tls-cert too", where="--tls-key")
    if tls_cert is None and not is_loopback(host) and not insecure_http:
        raise UserInputError(
            f"refusing to serve plain HTTP on {host}: API tokens would cross the network in clear. Give "
            "--tls-cert/--tls-key (a certificate from the cluster CA, or your own), or --insecure-http if "
            "this network is trusted", where="--host")


def check_etcd(settings) -> None:
    """etcd only over TLS with a client cert, or plain http on loopback when asked: checked before starting."""
    from ...service.registration import etcd_transport_refusal

    refusal = etcd_transport_refusal(settings.etcd, insecure=settings.insecure_etcd)
    if refusal:
        raise UserInputError(refusal, where="--etcd")
    if settings.etcd:
        settings.etcd_tls()  # the files are there (or says which is missing)


@app.command()
@report_errors
def serve(host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
          port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default 5002)."),
          state: str = typer.Option(None, "--state", help="State store URL (default sqlite:/// in the user "
                                    "data dir; rethinkdb://host:port/db)."),
          etcd: list[str] = typer.Option(None, "--etcd", help="etcd client URL (repeatable); without it "
                                         "engines come from the store."),
          pki_dir: Path = typer.Option(None, "--pki-dir", help="Cluster CA and client certificate."),
          etcd_cacert: Path = typer.Option(None, "--etcd-cacert", help="CA of etcd's certificate (default: "
                                           "PKI_DIR/etcd/ca.pem)."),
          etcd_cert: Path = typer.Option(None, "--etcd-cert", help="The service's etcd client certificate "
                                         "(default: PKI_DIR/etcd/client-cert.pem)."),
          etcd_key: Path = typer.Option(None, "--etcd-key", help="Its key (default: PKI_DIR/etcd/client-key.pem)."),
          insecure_etcd: bool = typer.Option(None, "--insecure-etcd", help="Allow a plain http:// etcd, on "
                                             "loopback only (anyone who can write to etcd can offer engines)."),
          local_engine: bool = typer.Option(None, "--local-engine/--no-local-engine",
                                            help="Add this machine's Docker engine as engine 'local'."),
          heartbeat_interval: float = typer.Option(None, "--heartbeat-interval", help="Seconds between "
                                                   "heartbeats (default 1)."),
          down_after: int = typer.Option(None, "--down-after", help="Missed heartbeats before a host is down."),
          up_after: int = typer.Option(None, "--up-after", help="Answers before a down host is up again."),
          weights: str = typer.Option(None, "--weights", metavar="CPU,MEM", help="Score weights (default 65,35)."),
          tls_cert: Path = typer.Option(None, "--tls-cert", help="Serve HTTPS with this certificate."),
          tls_key: Path = typer.Option(None, "--tls-key", help="The certificate's private key."),
          insecure_http: bool = typer.Option(False, "--insecure-http", help="Allow plain HTTP on a "
                                             "non-loopback address."),
          supervise: bool = typer.Option(None, "--supervise/--no-supervise", help="Heal apps continuously "
                                         "(default on; docs/self-healing.md)."),
          rebalance_every: float = typer.Option(None, "--rebalance-every", metavar="SECONDS",
                                                help="Rebalance on a schedule every SECONDS (default 0: off; "
                                                "docs/rebalance.md)."),
          rebalance_budget: int = typer.Option(None, "--rebalance-budget", metavar="MOVES",
                                               help="The most moves one scheduled rebalance makes (default 1)."),
          log_level: LogLevel = typer.Option(LogLevel.info, "--log-level")):
    """Run the scheduler/monitor service and its HTTP API (logs go to stderr)."""
    settings = serve_settings(host=host, port=port, state=state, etcd=etcd, pki_dir=pki_dir, etcd_cacert=etcd_cacert,
                              etcd_cert=etcd_cert, etcd_key=etcd_key, insecure_etcd=insecure_etcd,
                              local_engine=local_engine, heartbeat_interval=heartbeat_interval,
                              down_after=down_after, up_after=up_after, weights=weights, tls_cert=tls_cert,
                              tls_key=tls_key, supervise=supervise, rebalance_every=rebalance_every,
                              rebalance_budget=rebalance_budget)
    check_listen(settings.host, settings.tls_cert, settings.tls_key, insecure_http)
    check_etcd(settings)
    logging.basicConfig(stream=sys.stderr, level=log_level.value.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    from ...api.app import create_app
    from ...service.service import Service

    class _Server(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, service: Service):
            super().__init__(config)
            self.service = service

        def handle_exit(self, sig, frame) -> None:
            # open follows would hold the shutdown: end them (off the signal handler, which may have
            # interrupted a holder of their locks)
            threading.Thread(target=self.service.streams.end_all, daemon=True, name="end-streams").start()
            super().handle_exit(sig, frame)

    service = Service(settings)
    try:
        service.start()
        config = uvicorn.Config(create_app(service), host=settings.host, port=settings.port,
                                log_level=log_level.value, log_config=None,
                                timeout_graceful_shutdown=SHUTDOWN_GRACE,
                                ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                                ssl_keyfile=str(settings.tls_key) if settings.tls_key else None)
        _Server(config, service).run()
    finally:
        service.stop()
