"""The service's edge certificates (service.certificates) on a SQLite store and a real vault: issue, add, list,
remove, the bundles the edges serve (a TLS handshake trusting the cluster CA verifies), and no key anywhere else."""

from __future__ import annotations

import datetime as dt
import json
import ssl

import pytest
from test_edge_tls import make_cert

from paasops import pki
from paasops.auth.vault import SecretVault
from paasops.errors import NotFoundError, UserInputError
from paasops.service.certificates import Certificates
from paasops.store import Engine, open_store

HOST = "hello.example.test"


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def __call__(self, type_, **fields):
        self.events.append((type_, fields))


@pytest.fixture
def certs(tmp_path):
    store = open_store(f"sqlite://{tmp_path / 'state.db'}")
    pki_dir = tmp_path / "pki"
    yield Certificates(store, SecretVault(pki_dir), pki_dir, record=Recorder())
    store.close()


def handshake(bundle_path, ca_path, hostname: str) -> dict:
    """A TLS handshake in memory: a server with the edge's PEM, a client trusting `ca_path` asking for `hostname`;
    the peer certificate the client verified."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(bundle_path)  # one file, chain then key: what HAProxy reads
    client_ctx = ssl.create_default_context(cafile=str(ca_path))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return client.getpeercert()
    raise AssertionError("no handshake")


def test_issue_lists_without_the_key_and_serves_a_verifiable_bundle(certs, tmp_path):
    issued = certs.issue(HOST.upper(), days=30, by="admin")
    assert (issued.hostname, issued.source, issued.user) == (HOST, "cluster-ca", "admin")
    assert issued.subject == f"CN={HOST}" and issued.issuer == "CN=paasops cluster CA" and issued.names == [HOST]
    assert 29.9 * 86400 < issued.not_after - issued.not_before < 30.1 * 86400
    assert [c.model_dump() for c in certs.list()] == [issued.model_dump()]
    assert "KEY" not in json.dumps([c.model_dump() for c in certs.list()])
    stored = certs.store.get_certificate(HOST)
    assert stored.key_sealed.startswith("aesgcm1:") and "PRIVATE KEY" not in stored.key_sealed
    bundles = certs.bundles()
    assert list(bundles) == [HOST] and bundles[HOST].count("PRIVATE KEY-----") == 2
    (tmp_path / "edge.pem").write_text(bundles[HOST])
    peer = handshake(tmp_path / "edge.pem", tmp_path / "pki" / "ca.pem", HOST)
    assert peer["subjectAltName"] == (("DNS", HOST),)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(tmp_path / "edge.pem", tmp_path / "pki" / "ca.pem", "other.example.test")
    assert [(t, f["data"]["hostname"], f["data"]["fingerprint"]) for t, f in certs.record.events] == [
        ("cert-issued", HOST, issued.fingerprint)]
    assert "PRIVATE KEY" not in repr(certs.record.events)


def test_add_stores_a_good_bundle_and_refuses_bad_ones_storing_nothing(certs):
    now = dt.datetime.now(dt.UTC)
    cert, key = make_cert(["*.example.test"], before=now - dt.timedelta(hours=1), after=now + dt.timedelta(days=9))
    _, other_key = make_cert([HOST])
    bad = {"mismatched key": (cert, other_key, HOST), "wrong hostname": (cert, key, "hello.other.test"),
           "garbage": ("garbage", "garbage", HOST), "bad hostname": (cert, key, "10.1.2.3")}
    for case, (c, k, host) in bad.items():
        with pytest.raises(UserInputError):
            certs.add(host, c, k)
        assert certs.list() == [] and certs.record.events == [], case
    added = certs.add(HOST, cert, key, by="alice")
    assert (added.source, added.names, added.user) == ("user", ["*.example.test"], "alice")
    assert certs.bundles()[HOST].startswith(cert) and certs.bundles()[HOST].endswith(key)
    assert certs.record.events[0][0] == "cert-added" and "PRIVATE KEY" not in repr(certs.record.events)


def test_remove_and_version(certs):
    empty = certs.version()
    certs.issue(HOST)
    one = certs.version()
    assert one != empty and certs.version() == one  # unchanged: the same marker
    certs.issue(HOST)  # issued again: a new cert, a new marker
    assert certs.version() not in (one, empty)
    assert certs.remove(HOST + ".", by="admin").removed == HOST
    assert certs.list() == [] and certs.bundles() == {} and certs.version() == empty
    for name in (HOST, "\udcff", "../etc", ""):  # never a 500 for a name that is not a hostname
        with pytest.raises(NotFoundError, match="no certificate for"):
            certs.remove(name)
    assert [t for t, _ in certs.record.events] == ["cert-issued", "cert-issued", "cert-removed"]


def test_no_certificate_for_an_engine_name_or_a_bad_lifetime(certs):
    certs.store.put_engine(Engine(id="web1.lab.test", address="10.0.0.5"))
    with pytest.raises(UserInputError, match="names the engine web1.lab.test"):
        certs.issue("WEB1.lab.test")
    for days in (0, pki.LEAF_DAYS + 1, True):
        with pytest.raises(UserInputError, match="days"):
            certs.issue(HOST, days=days)
    assert certs.list() == []


def test_a_key_sealed_by_another_service_key_is_left_out_of_the_bundles(certs, tmp_path, caplog):
    certs.issue(HOST)
    certs.issue("b.example.test")
    moved = certs.store.get_certificate("b.example.test")
    moved.key_sealed = certs.store.get_certificate(HOST).key_sealed  # sealed for another hostname
    certs.store.put_certificate(moved)
    assert list(certs.bundles()) == [HOST]
    assert "b.example.test does not open" in caplog.text and "PRIVATE KEY" not in caplog.text
