"""Make docker SDK clients for an engine: mutual TLS with the cluster CA, plain TCP, or the local socket."""

from __future__ import annotations

from pathlib import Path

import docker
from docker.tls import TLSConfig

from ..errors import ConnectionFailed
from ..vocabulary import DOCKER_TLS_PORT, LOCAL_ENGINE, EngineEndpoint, docker_url

LOCAL = LOCAL_ENGINE


def tls_config(pki_dir: Path, *, with_client_cert: bool = True) -> TLSConfig:
    """TLS settings that verify the engine against the cluster CA and present our client cert."""
    ca = pki_dir / "ca.pem"
    if not ca.exists():
        raise ConnectionFailed(f"no cluster CA at {ca}: run `paasops bootstrap` first", where="tls")
    cert = (str(pki_dir / "client-cert.pem"), str(pki_dir / "client-key.pem")) if with_client_cert else None
    return TLSConfig(client_cert=cert, ca_cert=str(ca), verify=True)


def make_client(address: str, port: int = DOCKER_TLS_PORT, *, tls: bool = True, pki_dir: Path | None = None,
                timeout: float | None = 10.0, with_client_cert: bool = True) -> docker.DockerClient:
    """A DockerClient for one engine; no I/O happens until it is used.

    `tls` (the default) means mutual TLS against the cluster CA in `pki_dir`; `tls=False` means
    plain TCP, unencrypted and unauthenticated: whether that is allowed is the caller's policy
    (the service's is `paasops.service.registration.plain_tcp_refusal`). `local` is the unix socket.
    """
    if address == LOCAL:
        return docker.DockerClient(base_url=docker_url(address), timeout=timeout)
    tls_settings: TLSConfig | None = None
    if tls:
        if pki_dir is None:  # was a TypeError from `None / "ca.pem"`; now says why
            raise TypeError("make_client: tls=True needs pki_dir (the directory of the cluster CA)")
        tls_settings = tls_config(pki_dir, with_client_cert=with_client_cert)
    client = docker.DockerClient(base_url=docker_url(address, port, tls=tls), timeout=timeout,
                                 tls=tls_settings, version="1.41")
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace our CA, and *_PROXY route engine
    # traffic through a proxy: an engine is verified against the cluster CA only, and reached directly.
    client.api.trust_env = False
    return client


def client_for(endpoint: EngineEndpoint, *, pki_dir: Path | None = None, timeout: float | None = 10.0,
               with_client_cert: bool = True) -> docker.DockerClient:
    """`make_client` for an endpoint: TLS exactly when the endpoint says TLS."""
    return make_client(endpoint.address, endpoint.port, tls=endpoint.tls, pki_dir=pki_dir, timeout=timeout,
                       with_client_cert=with_client_cert)
