"""Edge certificates: issued by the cluster CA or given by a user, their keys sealed, bundled for the edges."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import edge_tls, pki
from ..auth.vault import SecretVault
from ..errors import NotFoundError, PaasopsError, UserInputError
from ..results import CertificateRemoved, CertificateView
from ..store.base import Store
from ..store.records import Certificate
from ..vocabulary import (
    CERT_ADDED_EVENT,
    CERT_ISSUED_EVENT,
    CERT_REMOVED_EVENT,
    CERT_SOURCE_CLUSTER_CA,
    CERT_SOURCE_USER,
)

log = logging.getLogger(__name__)
DEFAULT_DAYS = 365
MAX_DAYS = pki.LEAF_DAYS
Record = Callable[..., Any]


def view(cert: Certificate) -> CertificateView:
    """What the API shows of a stored certificate: never its key, sealed or not."""
    return CertificateView(hostname=cert.hostname, source=cert.source, subject=cert.subject, issuer=cert.issuer,
                           names=list(cert.names), not_before=cert.not_before, not_after=cert.not_after,
                           fingerprint=cert.fingerprint, user=cert.user, created_at=cert.created_at,
                           updated_at=cert.updated_at)


class Certificates:
    """Issue, add, list and remove the edges' certificates (one per hostname); each change records an event
    that names the certificate (fingerprint, expiry), never its key. `bundles()` is what the edges serve."""

    def __init__(self, store: Store, vault: SecretVault, pki_dir: Path | str, record: Record | None = None,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.vault = vault
        self.pki_dir = Path(pki_dir)
        self.record = record
        self.clock = clock
        self.on_change: Callable[[], None] | None = None  # the route publisher's: hand the edges the change now

    def _check_hostname(self, hostname: str) -> str:
        """A valid hostname that is not an engine's: a cluster-CA cert for an engine's name would let any edge
        that holds its key pass for that engine."""
        name = edge_tls.check_hostname(hostname)
        for engine in self.store.list_engines():
            if name in (engine.id.lower(), engine.address.lower()):
                raise UserInputError(f"{name} names the engine {engine.id}: edge certificates are for the "
                                     "hostnames apps serve, not for cluster hosts", where="hostname")
        return name

    def issue(self, hostname: str, *, days: int = DEFAULT_DAYS, by: str | None = None) -> CertificateView:
        """A new certificate for `hostname` from the cluster CA (replacing the one it had), valid `days` days."""
        name = self._check_hostname(hostname)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise UserInputError(f"a whole number of days from 1 to {MAX_DAYS}", where="days")
        ca = pki.ensure_ca(self.pki_dir)
        cert_pem, key_pem = pki.issue_hostname_cert(ca, name, days)
        facts = edge_tls.facts(edge_tls.read_chain(cert_pem)[0])
        stored = self._put(name, CERT_SOURCE_CLUSTER_CA, cert_pem.decode(), key_pem.decode(), facts, by)
        self._event(CERT_ISSUED_EVENT, stored, by, f"certificate for {name} issued by the cluster CA")
        return view(stored)

    def add(self, hostname: str, cert_pem: str, key_pem: str, *, by: str | None = None) -> CertificateView:
        """A user's certificate chain and key for `hostname` (replacing the one it had), once they are checked:
        they parse, the key is the leaf's, the leaf covers the hostname and is valid now. Nothing is stored
        otherwise."""
        name = self._check_hostname(hostname)
        checked = edge_tls.check_user_bundle(name, cert_pem, key_pem, dt.datetime.fromtimestamp(self.clock(), dt.UTC))
        stored = self._put(name, CERT_SOURCE_USER, checked.chain_pem, checked.key_pem, checked.facts, by)
        self._event(CERT_ADDED_EVENT, stored, by, f"certificate for {name} added (issuer {stored.issuer})")
        return view(stored)

    def _put(self, hostname: str, source: str, chain_pem: str, key_pem: str, facts: edge_tls.CertFacts,
             by: str | None) -> Certificate:
        return self.store.put_certificate(Certificate(
            hostname=hostname, source=source, cert_pem=chain_pem,
            key_sealed=self.vault.seal_private_key(hostname, key_pem), subject=facts.subject, issuer=facts.issuer,
            names=list(facts.names), not_before=facts.not_before, not_after=facts.not_after,
            fingerprint=facts.fingerprint, user=by))

    def _event(self, kind: str, cert: Certificate, by: str | None, message: str) -> None:
        if self.on_change is not None:
            self.on_change()
        if self.record is not None:
            expires = dt.datetime.fromtimestamp(cert.not_after, dt.UTC)
            self.record(kind, user=by, message=f"{message}, expires {expires:%Y-%m-%d}, sha256 {cert.fingerprint}",
                        data={"hostname": cert.hostname, "source": cert.source, "fingerprint": cert.fingerprint,
                              "not_after": cert.not_after})

    def list(self) -> list[CertificateView]:
        """Every certificate, by hostname."""
        return [view(c) for c in self.store.list_certificates()]

    def remove(self, hostname: str, *, by: str | None = None) -> CertificateRemoved:
        try:
            name = edge_tls.check_hostname(hostname)
        except UserInputError:  # no certificate was ever stored under a name that is not a hostname
            name = ""
        cert = self.store.get_certificate(name) if name else None
        if cert is None or not self.store.delete_certificate(name):
            raise NotFoundError(f"no certificate for {hostname!r}", where="certs")
        self._event(CERT_REMOVED_EVENT, cert, by, f"certificate for {name} removed")
        return CertificateRemoved(removed=name)

    def bundles(self) -> dict[str, str]:
        """hostname -> the PEM an edge serves: the chain, then the private key. A key that does not open
        (another service key) is left out, with a warning naming the hostname."""
        out = {}
        for cert in self.store.list_certificates():
            try:
                out[cert.hostname] = cert.cert_pem + self.vault.open_private_key(cert.hostname, cert.key_sealed)
            except PaasopsError as exc:
                log.warning("edge certificate left out: %s", exc)
        return out

    def version(self) -> str:
        """A cheap marker that changes whenever a certificate is issued, added or removed (one store read,
        nothing decrypted): when it is unchanged, `bundles()` is too."""
        stamp = "\n".join(f"{c.hostname} {c.fingerprint} {c.updated_at!r}" for c in self.store.list_certificates())
        return hashlib.sha256(stamp.encode()).hexdigest()
