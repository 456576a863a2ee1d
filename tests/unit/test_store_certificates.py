"""Edge certificates in the state store, against every backend (SQLite always, RethinkDB under its marker):
one per hostname, replaced in place, the private key only sealed; an older SQLite file gains the table."""

from __future__ import annotations

import sqlite3

import pytest
from test_store_contract import opener  # noqa: F401 - the fixture: each backend, a fresh store

from paasops.store import Certificate, open_store

SEALED = "aesgcm1:c2VhbGVk"


def cert(hostname: str, fingerprint: str = "f" * 64, source: str = "cluster-ca", **more) -> Certificate:
    return Certificate(hostname=hostname, source=source, cert_pem="-----BEGIN CERTIFICATE-----\n...",
                       key_sealed=SEALED, subject=f"CN={hostname}", issuer="CN=paasops cluster CA",
                       names=[hostname], not_before=100.0, not_after=200.0, fingerprint=fingerprint, **more)


@pytest.fixture
def store(opener):  # noqa: F811 - the fixture imported above
    return opener()


def test_certificates_round_trip_by_hostname(store):
    assert store.list_certificates() == [] and store.get_certificate("a.example.test") is None
    stored = store.put_certificate(cert("b.example.test", user="admin"))
    store.put_certificate(cert("a.example.test"))
    assert stored.created_at > 0 and stored.updated_at >= stored.created_at
    assert [c.hostname for c in store.list_certificates()] == ["a.example.test", "b.example.test"]
    got = store.get_certificate("b.example.test")
    assert got == stored and got.names == ["b.example.test"] and got.user == "admin"
    assert got.key_sealed == SEALED and got.not_after == 200.0


def test_a_certificate_is_replaced_in_place_keeping_when_it_came(store):
    first = store.put_certificate(cert("a.example.test", fingerprint="1" * 64))
    again = store.put_certificate(cert("a.example.test", fingerprint="2" * 64, source="user"))
    assert [c.fingerprint for c in store.list_certificates()] == ["2" * 64]
    assert again.source == "user" and again.created_at == first.created_at and again.updated_at >= first.updated_at


def test_delete(store):
    store.put_certificate(cert("a.example.test"))
    assert store.delete_certificate("a.example.test") is True
    assert store.delete_certificate("a.example.test") is False
    assert store.list_certificates() == []


@pytest.mark.parametrize("key", ["-----BEGIN PRIVATE KEY-----\nMIG...", "", "sealed-by-nobody"])
def test_a_private_key_reaches_the_store_sealed_only(store, key):
    with pytest.raises(ValueError, match=r"private key sealed, never the key \(a.example.test\)"):
        store.put_certificate(Certificate("a.example.test", "user", "PEM", key_sealed=key))
    assert store.list_certificates() == []


def test_a_state_file_from_before_certificates_gains_the_table(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # what an older release left: no certificates table
        db.execute("CREATE TABLE apps (name TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    with open_store(f"sqlite://{path}") as store:
        store.put_certificate(cert("a.example.test"))
        assert [c.hostname for c in store.list_certificates()] == ["a.example.test"]
