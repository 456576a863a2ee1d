"""Which engine answers at an address: the CN of the cluster CA cert its Docker API presents."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cryptography import x509

from ..errors import ConnectionFailed
from ..pki import cert_cn
from ..vocabulary import EngineEndpoint


class IdentityMismatch(Exception):
    """The engine answered with a cert of the cluster CA, but one issued for another engine."""


def presented_id(endpoint: EngineEndpoint, pki_dir: Path, timeout: float = 5.0) -> str:
    """The engine id (CN) in the cert the Docker API at `endpoint` presents; ConnectionFailed if it does
    not answer or its cert is not the cluster CA's for that address (its IP or name in the SANs)."""
    where = f"engine at {endpoint.address}:{endpoint.port}"
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.pem"))  # hostname checked: the address
    context.load_cert_chain(str(pki_dir / "client-cert.pem"), str(pki_dir / "client-key.pem"))
    try:
        with socket.create_connection((endpoint.address, endpoint.port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=endpoint.address) as tls:
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionFailed(f"its certificate is not the cluster CA's for this address "
                               f"({exc.verify_message})", where=where) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionFailed(f"does not answer over TLS ({type(exc).__name__}: {exc})", where=where) from None
    if not der:
        raise ConnectionFailed("presented no certificate", where=where)
    return cert_cn(x509.load_der_x509_certificate(der))


def check_identity(engine_id: str, endpoint: EngineEndpoint, pki_dir: Path, timeout: float = 5.0) -> None:
    """Raise IdentityMismatch unless the Docker API at `endpoint` presents the cert issued for `engine_id`."""
    if not endpoint.tls:
        raise IdentityMismatch(f"engine {engine_id}: TLS is off at {endpoint.address}:{endpoint.port}, so "
                               f"nothing proves which engine answers there")
    found = presented_id(endpoint, pki_dir, timeout)
    if found != engine_id:
        raise IdentityMismatch(f"engine {engine_id}: the Docker API at {endpoint.address}:{endpoint.port} "
                               f"presents the certificate of {found or 'no engine'!r}, not of {engine_id!r}")
