"""The cluster PKI on the control machine: the cluster CA (Docker engines) and the etcd CA, and the certs they sign."""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from paasops.errors import PaasopsError
from paasops.vocabulary import data_dir

CA_DAYS = 3650
LEAF_DAYS = 825
# A cached server cert with less than this left is reissued on the next bootstrap.
RENEW_BEFORE = dt.timedelta(days=30)
CLIENT_CN = "paasops-service"
ETCD_DIR = "etcd"  # the etcd CA and the certs it signed, under the pki dir
ENROLLED = "enrolled"  # in a host's dir: when bootstrap last installed it


@dataclass(frozen=True)
class CA:
    """The cluster CA; `key` is only ever loaded on the control machine."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey  # ensure_ca makes EC; a CA brought along may be RSA
    cert_pem: bytes
    path: Path  # the ca.pem file


def default_pki_dir() -> Path:
    """$PAASOPS_PKI_DIR, else the user data dir's `paasops/pki`."""
    env = os.environ.get("PAASOPS_PKI_DIR")
    if env:
        return Path(env).expanduser()
    return data_dir() / "pki"


def ensure_ca(pki_dir: Path | str) -> CA:
    """Load the CA from `pki_dir`, creating it the first time only."""
    return _ensure_ca_in(_ensure_dir(Path(pki_dir)), "paasops cluster CA")


def ensure_etcd_ca(pki_dir: Path | str) -> CA:
    """The etcd CA (`pki_dir/etcd/ca.pem`), made the first time: it signs etcd's server cert and its
    clients' certs only. A separate CA, because every Docker engine accepts any client cert of the
    cluster CA: an agent cert from it would open every engine's API to whoever is root on one host."""
    return _ensure_ca_in(_ensure_dir(Path(pki_dir) / ETCD_DIR), "paasops etcd CA")


def _ensure_ca_in(pki_dir: Path, common_name: str) -> CA:
    cert_path, key_path = pki_dir / "ca.pem", pki_dir / "ca-key.pem"
    with _locked(pki_dir):
        if cert_path.exists() or key_path.exists():
            return _load_ca(cert_path, key_path)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return _load_ca(cert_path, key_path)


def issue_server_cert(ca: CA, name: str, addresses: list[str],
                      dns_names: list[str] | tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A fresh (cert_pem, key_pem) with IP SANs `addresses`, DNS SANs `dns_names`, serverAuth."""
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    sans += [x509.DNSName(d) for d in dns_names]
    return _issue(ca, name, sans, ExtendedKeyUsageOID.SERVER_AUTH)


def issue_hostname_cert(ca: CA, hostname: str, days: int = LEAF_DAYS) -> tuple[bytes, bytes]:
    """A fresh (cert_pem, key_pem) for an edge's HTTPS: CN and DNS SAN `hostname`, serverAuth only (so it
    never opens an engine's API as a client), valid `days` days (never past the CA)."""
    return _issue(ca, hostname, [x509.DNSName(hostname)], ExtendedKeyUsageOID.SERVER_AUTH, days=days)


def ensure_client_cert(pki_dir: Path | str, ca: CA) -> tuple[Path, Path]:
    """Create client-cert.pem/client-key.pem (CN=paasops-service) once; returns their paths."""
    pki_dir = _ensure_dir(Path(pki_dir))
    cert_path, key_path = pki_dir / "client-cert.pem", pki_dir / "client-key.pem"
    with _locked(pki_dir):
        if not (cert_path.exists() and key_path.exists()):
            cert_pem, key_pem = _issue(ca, CLIENT_CN, [], ExtendedKeyUsageOID.CLIENT_AUTH)
            _write_private(key_path, key_pem)
            _write_private(cert_path, cert_pem)
    return cert_path, key_path


def agent_cert_for(pki_dir: Path | str, engine_id: str) -> tuple[bytes, bytes]:
    """The cached etcd client cert of a host's registration agent (etcd CA, CN = its engine id)."""
    pki_dir = Path(pki_dir)
    ca = ensure_etcd_ca(pki_dir)
    return _cached_client_cert(ca, _ensure_dir(pki_dir / "hosts" / _safe_name(engine_id)), "agent", engine_id)


def etcd_client_files(pki_dir: Path | str) -> EtcdFiles:
    """The service's etcd TLS files (etcd CA, client cert CN=paasops-service), made when missing."""
    pki_dir = Path(pki_dir)
    ca = ensure_etcd_ca(pki_dir)
    files = EtcdFiles.in_dir(pki_dir)
    _cached_client_cert(ca, files.ca.parent, "client", CLIENT_CN)
    return files


def etcd_server_files(pki_dir: Path | str, addresses: Sequence[str]) -> tuple[Path, Path]:
    """(cert, key) paths of etcd's own server cert (IP SANs `addresses` and loopback), made or renewed.

    It is a client cert too: etcd's JSON gateway dials etcd itself with it when client certs are required.
    """
    pki_dir = Path(pki_dir)
    ca = ensure_etcd_ca(pki_dir)
    ips = sorted({"127.0.0.1", *addresses})
    etcd_dir = pki_dir / ETCD_DIR
    cert_path, key_path = etcd_dir / "server-cert.pem", etcd_dir / "server-key.pem"
    with _locked(etcd_dir):
        if not (cert_path.exists() and key_path.exists()
                and _still_good(ca, cert_path.read_bytes(), ips, ["localhost"])):
            sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in ips] + [x509.DNSName("localhost")]
            cert_pem, key_pem = _issue(ca, "paasops-etcd", sans, ExtendedKeyUsageOID.SERVER_AUTH,
                                       ExtendedKeyUsageOID.CLIENT_AUTH)
            _write_private(key_path, key_pem)
            _write_private(cert_path, cert_pem)
    return cert_path, key_path


@dataclass(frozen=True)
class EtcdFiles:
    """Where a client of etcd finds the etcd CA and its own cert and key."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, pki_dir: Path | str) -> EtcdFiles:
        etcd_dir = Path(pki_dir) / ETCD_DIR
        return cls(etcd_dir / "ca.pem", etcd_dir / "client-cert.pem", etcd_dir / "client-key.pem")

    def paths(self) -> tuple[Path, Path, Path]:
        return self.ca, self.cert, self.key


def _cached_client_cert(ca: CA, where: Path, stem: str, cn: str) -> tuple[bytes, bytes]:
    """`where/STEM-cert.pem` and `STEM-key.pem` (CN `cn`, clientAuth), reissued when not good any more."""
    cert_path, key_path = where / f"{stem}-cert.pem", where / f"{stem}-key.pem"
    with _locked(where):
        if cert_path.exists() and key_path.exists():
            cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
            if _still_good(ca, cert_pem, [], []) and cert_cn(x509.load_pem_x509_certificate(cert_pem)) == cn:
                return cert_pem, key_pem
        cert_pem, key_pem = _issue(ca, cn, [], ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        return cert_pem, key_pem


def mark_enrolled(pki_dir: Path | str, engine_id: str) -> None:
    """Note that `paasops bootstrap` (re)installed this host now: it lifts an admin's removal of it."""
    host_dir = _ensure_dir(Path(pki_dir) / "hosts" / _safe_name(engine_id))
    _write_private(host_dir / ENROLLED, f"{_now().timestamp():.3f}\n".encode())


def enrolled_at(pki_dir: Path | str, engine_id: str) -> float | None:
    """When bootstrap last installed this host (seconds since the epoch), or None."""
    try:
        return float((Path(pki_dir) / "hosts" / _safe_name(engine_id) / ENROLLED).read_text())
    except (OSError, ValueError, PaasopsError):
        return None


def cert_cn(cert: x509.Certificate) -> str:
    """The subject's common name ('' when it has none): an engine's id in its server and agent certs."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def server_cert_for(pki_dir: Path | str, host_name: str, address: str) -> tuple[bytes, bytes]:
    """The cached server cert of a host, reissued only if its SANs, CA or expiry call for it."""
    pki_dir = Path(pki_dir)
    ca = ensure_ca(pki_dir)
    addresses, dns_names = server_sans(host_name, address)
    host_dir = _ensure_dir(pki_dir / "hosts" / _safe_name(host_name))
    cert_path, key_path = host_dir / "cert.pem", host_dir / "key.pem"
    with _locked(pki_dir):
        if cert_path.exists() and key_path.exists():
            cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
            if _still_good(ca, cert_pem, addresses, dns_names):
                return cert_pem, key_pem
        cert_pem, key_pem = issue_server_cert(ca, host_name, addresses, dns_names)
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        return cert_pem, key_pem


def server_sans(host_name: str, address: str) -> tuple[list[str], list[str]]:
    """(IP SANs, DNS SANs) for a host: its name and address, plus loopback for on-host checks."""
    ips, names = ["127.0.0.1"], ["localhost"]
    for value in (address, host_name):
        try:
            ip = str(ipaddress.ip_address(value))
        except ValueError:
            if value not in names:
                names.append(value)
        else:
            if ip not in ips:
                ips.append(ip)
    return ips, names


def cert_sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    """(IP SANs, DNS SANs) of a certificate."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return ({str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
            set(ext.get_values_for_type(x509.DNSName)))


def _issue(ca: CA, cn: str, sans: Sequence[x509.GeneralName], *ekus, days: int = LEAF_DAYS) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=False, key_agreement=True,
            key_cert_sign=False, crl_sign=False, content_commitment=False,
            data_encipherment=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                       critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _still_good(ca: CA, cert_pem: bytes, addresses: list[str], dns_names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):  # unreadable, or signed by another CA
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    return cert_sans(cert) == (set(addresses), set(dns_names))


def _load_ca(cert_path: Path, key_path: Path) -> CA:
    if not (cert_path.exists() and key_path.exists()):
        missing = cert_path if not cert_path.exists() else key_path
        raise PaasopsError("the CA is half there; restore it from a backup rather than "
                           "replacing it (every host trusts it)", where=str(missing))
    cert_pem = cert_path.read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as exc:
        raise PaasopsError(f"unreadable CA file: {exc}", where=str(cert_path.parent)) from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):  # what signs with SHA-256
        raise PaasopsError(f"unreadable CA file: not an EC or RSA private key ({type(key).__name__})",
                           where=str(key_path))
    return CA(cert=cert, key=key, cert_pem=cert_pem, path=cert_path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@contextmanager
def _locked(pki_dir: Path):
    """Serialise concurrent bootstraps so the CA is created once."""
    with open(pki_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _safe_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise PaasopsError("not usable as a file name", where=repr(name))
    return name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
