"""Edge TLS checks, pure: hostnames, wildcard coverage, key/cert match, expiry, and a user's bundle refused
for each reason with a message naming it (and never quoting the key)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from paasops import edge_tls, pki
from paasops.errors import UserInputError

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_cert(names: list[str], key=None, *, before: dt.datetime = NOW - DAY, after: dt.datetime = NOW + 30 * DAY,
              cn: str = "test") -> tuple[str, str]:
    """A self-signed (cert PEM, key PEM) with DNS SANs `names` (none: no SAN extension)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(before).not_valid_after(after))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key)


@pytest.mark.parametrize("given, expected", [
    ("hello.example.test", "hello.example.test"),
    ("Hello.Example.TEST.", "hello.example.test"),  # case and the root dot do not matter
    ("a-b.c1.example", "a-b.c1.example"),
])
def test_hostnames_accepted(given, expected):
    assert edge_tls.check_hostname(given) == expected


@pytest.mark.parametrize("given, says", [
    ("", "a hostname is needed"),
    ("10.0.0.1", "is an IP address"),
    ("::1", "is an IP address"),
    ("*.example.test", "exact hostname"),
    ("lab1", "fully qualified"),  # a bare name: an engine's, say
    ("web.localhost", "fully qualified"),
    ("1.2.3.4444", "fully qualified"),  # all-numeric top label
    ("-a.example.test", "is not a hostname"),
    ("a_b.example.test", "is not a hostname"),
    ("a..example.test", "is not a hostname"),
    ("x" * 64 + ".example.test", "is not a hostname"),
    ("a/b.example.test", "is not a hostname"),
])
def test_hostnames_refused_with_the_reason(given, says):
    with pytest.raises(UserInputError, match=says) as caught:
        edge_tls.check_hostname(given)
    assert caught.value.where == "hostname"


@pytest.mark.parametrize("names, host, expected", [
    (["hello.example.test"], "hello.example.test", True),
    (["HELLO.example.test"], "hello.example.test", True),
    (["other.example.test", "hello.example.test"], "hello.example.test", True),
    (["*.example.test"], "hello.example.test", True),  # a wildcard covers one left-most label
    (["*.example.test"], "example.test", False),  # ...not the name itself
    (["*.example.test"], "a.hello.example.test", False),  # ...nor two labels
    (["*.test"], "example.test", False),  # no wildcard over a top-level domain
    (["h*.example.test"], "hello.example.test", False),  # partial wildcards: not honoured
    (["*.*.test"], "a.b.test", False),
    (["other.example.test"], "hello.example.test", False),
    ([], "hello.example.test", False),
])
def test_covers(names, host, expected):
    assert edge_tls.covers(names, host) is expected


def test_key_matches_only_its_own_certificate():
    cert_pem, key = make_cert(["a.example.test"])
    cert = edge_tls.read_chain(cert_pem)[0]
    assert edge_tls.key_matches(cert, edge_tls.read_key(key))
    assert not edge_tls.key_matches(cert, ec.generate_private_key(ec.SECP256R1()))
    assert not edge_tls.key_matches(cert, rsa.generate_private_key(65537, 2048))


def test_validity_at_a_time():
    cert = edge_tls.read_chain(make_cert(["a.example.test"], before=NOW - DAY, after=NOW + DAY)[0])[0]
    assert edge_tls.validity_problem(cert, NOW) is None
    assert "expired on" in edge_tls.validity_problem(cert, NOW + 2 * DAY)
    assert "not valid before" in edge_tls.validity_problem(cert, NOW - 2 * DAY)
    assert "expired" in edge_tls.validity_problem(cert, NOW + DAY)  # not_after itself is past


def test_a_good_bundle_with_a_wildcard_and_its_chain():
    leaf, key = make_cert(["*.example.test"], cn="wild")
    other, _ = make_cert(["intermediate.test"], cn="intermediate")
    checked = edge_tls.check_user_bundle("hello.example.test", leaf + other, key, NOW)
    assert [c.subject.rfc4514_string() for c in edge_tls.read_chain(checked.chain_pem)] == ["CN=wild",
                                                                                           "CN=intermediate"]
    assert checked.facts.names == ("*.example.test",) and checked.facts.subject == "CN=wild"
    assert checked.facts.fingerprint == edge_tls.fingerprint(leaf) and len(checked.facts.fingerprint) == 64
    assert "PRIVATE KEY" in checked.key_pem and "PRIVATE KEY" not in checked.chain_pem


def _refusal(cert: str, key: str, host: str = "hello.example.test") -> UserInputError:
    with pytest.raises(UserInputError) as caught:
        edge_tls.check_user_bundle(host, cert, key, NOW)
    return caught.value


def test_bundles_refused_for_each_reason():
    cert, key = make_cert(["hello.example.test"])
    _, other_key = make_cert(["hello.example.test"])
    cases = {
        "mismatched key": (_refusal(cert, other_key), "key", "not the certificate's"),
        "wrong hostname": (_refusal(cert, key, "other.example.test"), "cert",
                           "does not cover other.example.test (its DNS names: hello.example.test)"),
        "no SAN": (_refusal(*make_cert([])), "cert", "its DNS names: none"),
        "expired": (_refusal(*make_cert(["hello.example.test"], before=NOW - 9 * DAY, after=NOW - DAY)), "cert",
                    "expired on"),
        "not yet valid": (_refusal(*make_cert(["hello.example.test"], before=NOW + DAY, after=NOW + 9 * DAY)), "cert",
                          "not valid before"),
        "garbage cert": (_refusal("hello", key), "cert", "no PEM certificate"),
        "broken cert": (_refusal("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key), "cert",
                        "does not parse"),
        "garbage key": (_refusal(cert, "hello"), "key", "no PEM private key"),
        "broken key": (_refusal(cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "key",
                       "does not parse"),
        "cert given as key": (_refusal(cert, cert), "key", "no PEM private key"),
    }
    body = [line for line in (key + other_key).splitlines() if "-----" not in line]
    for case, (error, where, says) in cases.items():
        assert error.where == where and says in str(error), case
        assert "AAAA" not in str(error) and not any(line in str(error) for line in body), f"{case}: quotes the PEM"


def test_an_encrypted_or_weak_key_is_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    cert, _ = make_cert(["hello.example.test"], key)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pass")).decode()
    assert "encrypted" in str(_refusal(cert, encrypted))
    weak = rsa.generate_private_key(65537, 1024)
    cert, key_text = make_cert(["hello.example.test"], weak)
    assert "too weak" in str(_refusal(cert, key_text))


def test_oversized_pem_or_no_text_is_refused_before_parsing():
    assert "KiB" in str(_refusal("x" * (edge_tls.MAX_CERT_PEM + 1), "k"))
    cert, key = make_cert(["hello.example.test"])
    assert str(_refusal("\udcff", key)) == "cert: not PEM text"  # a lone surrogate, as JSON may carry
    assert str(_refusal(cert, "\udcff")) == "key: not PEM text"
    with pytest.raises(UserInputError):
        edge_tls.check_hostname("\udcff.example.test")


def test_a_cluster_ca_cert_for_a_hostname(tmp_path):
    ca = pki.ensure_ca(tmp_path)
    cert_pem, key_text = pki.issue_hostname_cert(ca, "hello.example.test", days=10)
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(ca.cert)
    assert edge_tls.dns_names(cert) == ("hello.example.test",)
    assert pki.cert_sans(cert) == (set(), {"hello.example.test"})  # no IP SAN
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]  # never a client cert for the engines' APIs
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=10) <= lifetime <= dt.timedelta(days=10, minutes=6)
    now = dt.datetime.now(dt.UTC)
    checked = edge_tls.check_user_bundle("hello.example.test", cert_pem.decode(), key_text.decode(), now)
    assert checked.facts.issuer == "CN=paasops cluster CA"
