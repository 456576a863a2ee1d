"""Edge TLS certificates, pure: hostname rules, reading a PEM chain and key, and checking they fit a hostname."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import UserInputError

MAX_HOSTNAME = 253
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.DOTALL)
# What a user may give: well over any real chain and key, far below the service's body limit.
MAX_CERT_PEM = 64 * 1024
MAX_KEY_PEM = 16 * 1024
MIN_RSA_BITS = 2048  # what OpenSSL's default security level serves


@dataclass(frozen=True)
class CertFacts:
    """What a listing shows of a certificate (its leaf): never anything of its key."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # its DNS SANs
    not_before: float  # epoch seconds
    not_after: float
    fingerprint: str  # sha256 hex of the leaf's DER


def check_hostname(value: str, where: str = "hostname") -> str:
    """The hostname lowercased: DNS labels of letters, digits and '-', with at least one dot (a name the
    world could route, not a bare host name like an engine's), no IP address, no wildcard."""
    name = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    if not name:
        raise UserInputError("a hostname is needed", where=where)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise UserInputError(f"{value!r} is an IP address: edge certificates are for hostnames", where=where)
    if "*" in name:
        raise UserInputError(f"{value!r}: give the exact hostname an app serves (a wildcard certificate may be "
                             "added for each hostname it covers)", where=where)
    labels = name.split(".")
    if len(name) > MAX_HOSTNAME or not all(LABEL_RE.match(label) for label in labels):
        raise UserInputError(f"{value!r} is not a hostname (labels of letters, digits and '-', at most 63 "
                             "characters each, 253 in all)", where=where)
    if len(labels) < 2 or labels[-1] in ("localhost", "local") or labels[-1].isdigit():
        raise UserInputError(f"{value!r}: a fully qualified name is needed (like app.example.com)", where=where)
    return name


def covers(names: tuple[str, ...] | list[str] | set[str], hostname: str) -> bool:
    """Does a certificate with these DNS SANs cover `hostname`? Exactly, or by a wildcard in its left-most
    label only (`*.example.com` covers `a.example.com`, not `example.com` nor `a.b.example.com`; RFC 6125)."""
    host = hostname.lower().rstrip(".")
    for name in names:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "*" not in name[2:] and name.count(".") >= 2:
            first, _, rest = host.partition(".")
            if first and rest == name[2:]:
                return True
    return False


def pem_bytes(pem: str | bytes, where: str) -> bytes:
    """PEM text as bytes; UserInputError when it is no text at all (a lone surrogate from a JSON body)."""
    try:
        return pem.encode() if isinstance(pem, str) else pem
    except UnicodeEncodeError:
        raise UserInputError("not PEM text", where=where) from None


def read_chain(pem: str | bytes, where: str = "cert") -> list[x509.Certificate]:
    """The certificates of a PEM text, leaf first; UserInputError when there is none or one does not parse."""
    data = pem_bytes(pem, where)
    if len(data) > MAX_CERT_PEM:
        raise UserInputError(f"more than {MAX_CERT_PEM // 1024} KiB of PEM", where=where)
    blocks = PEM_CERT_RE.findall(data)
    if not blocks:
        raise UserInputError("no PEM certificate (-----BEGIN CERTIFICATE-----) in it", where=where)
    chain = []
    for n, block in enumerate(blocks, 1):
        try:
            chain.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise UserInputError(f"certificate {n} of the PEM does not parse: {exc}", where=where) from None
    return chain


def read_key(pem: str | bytes, where: str = "key") -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """An unencrypted EC or RSA private key (what HAProxy serves) from PEM; UserInputError otherwise."""
    data = pem_bytes(pem, where)
    if len(data) > MAX_KEY_PEM:
        raise UserInputError(f"more than {MAX_KEY_PEM // 1024} KiB of PEM", where=where)
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise UserInputError("no PEM private key (-----BEGIN ... PRIVATE KEY-----) in it", where=where)
    if b"ENCRYPTED" in data:
        raise UserInputError("the private key is encrypted: give it unencrypted (e.g. `openssl pkey -in KEY "
                             "-out PLAIN`); the service seals it at rest", where=where)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:  # messages of cryptography never quote the key
        raise UserInputError(f"the private key does not parse ({type(exc).__name__})", where=where) from None
    except Exception as exc:  # an unsupported algorithm, an OpenSSL error: still bad input, never a 500
        raise UserInputError(f"the private key cannot be read ({type(exc).__name__})", where=where) from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise UserInputError(f"an EC or RSA private key is needed, not {type(key).__name__}", where=where)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise UserInputError(f"an RSA key of {key.key_size} bits is too weak to serve: {MIN_RSA_BITS} at least",
                             where=where)
    return key


def key_matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bool:
    """Is `key` the private half of the certificate's public key?"""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    except (ValueError, TypeError):
        return False


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's DNS SANs (clients ignore the subject's CN when matching a name)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.get_values_for_type(x509.DNSName))


def facts(cert: x509.Certificate) -> CertFacts:
    return CertFacts(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                     names=dns_names(cert), not_before=cert.not_valid_before_utc.timestamp(),
                     not_after=cert.not_valid_after_utc.timestamp(), fingerprint=fingerprint(cert))


def fingerprint(cert: x509.Certificate | str | bytes) -> str:
    """sha256 hex of a certificate's DER (of the first one of a PEM text: a chain's leaf)."""
    if not isinstance(cert, x509.Certificate):
        cert = read_chain(cert)[0]
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def validity_problem(cert: x509.Certificate, now: dt.datetime) -> str | None:
    """Why the certificate cannot be served at `now` (expired, not valid yet), or None."""
    if cert.not_valid_after_utc <= now:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if cert.not_valid_before_utc > now:
        return f"it is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


@dataclass(frozen=True)
class CheckedBundle:
    """A user's certificate chain and key, checked: the PEM to keep (chain, then key) and the leaf's facts."""

    chain_pem: str
    key_pem: str
    facts: CertFacts


def check_user_bundle(hostname: str, cert_pem: str, key_pem: str, now: dt.datetime) -> CheckedBundle:
    """A user's chain and key for `hostname`, checked: it parses, the key is the leaf's, the leaf covers
    the hostname (DNS SAN, exact or wildcard) and is valid now. UserInputError naming the problem otherwise."""
    chain = read_chain(cert_pem)
    key = read_key(key_pem)
    leaf = chain[0]
    if not key_matches(leaf, key):
        raise UserInputError("the private key is not the certificate's (the first certificate of the PEM must "
                             "be the one the key belongs to)", where="key")
    names = dns_names(leaf)
    if not covers(names, hostname):
        shown = ", ".join(names) if names else "none"
        raise UserInputError(f"the certificate does not cover {hostname} (its DNS names: {shown})", where="cert")
    problem = validity_problem(leaf, now)
    if problem:
        raise UserInputError(f"the certificate cannot be served: {problem}", where="cert")
    pem = serialization.Encoding.PEM
    chain_pem = "".join(c.public_bytes(pem).decode() for c in chain)
    key_out = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return CheckedBundle(chain_pem, key_out, facts(leaf))
