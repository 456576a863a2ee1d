"""The cluster PKI: CA once, server and client certs, idempotent per-host certs, file modes."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from paasops import pki


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def eku(cert: x509.Certificate) -> list:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_is_created_once_and_reused(tmp_path):
    d = tmp_path / "pki"
    ca = pki.ensure_ca(d)
    first = (d / "ca.pem").read_bytes(), (d / "ca-key.pem").read_bytes()
    again = pki.ensure_ca(d)
    assert ((d / "ca.pem").read_bytes(), (d / "ca-key.pem").read_bytes()) == first
    assert again.cert == ca.cert
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc
    assert life >= dt.timedelta(days=3650)
    assert mode(d) == 0o700
    assert mode(d / "ca-key.pem") == 0o600
    assert mode(d / "ca.pem") == 0o600


def test_half_a_ca_is_refused_not_replaced(tmp_path):
    pki.ensure_ca(tmp_path)
    (tmp_path / "ca-key.pem").unlink()
    with pytest.raises(pki.PaasopsError, match="half there"):
        pki.ensure_ca(tmp_path)
    assert not (tmp_path / "ca-key.pem").exists()


def test_server_cert_verifies_with_sans_and_server_auth(tmp_path):
    ca = pki.ensure_ca(tmp_path)
    cert_pem, key_pem = pki.issue_server_cert(ca, "web1", ["10.0.0.5", "::1"], ["web1.lan"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(ca.cert)
    assert pki.cert_sans(cert) == ({"10.0.0.5", "::1"}, {"web1.lan"})
    assert eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "web1"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in key_pem


def test_mutual_tls_handshake_with_cluster_certs(tmp_path):
    ca = pki.ensure_ca(tmp_path)
    cert_pem, key_pem = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    (tmp_path / "server.pem").write_bytes(cert_pem + key_pem)
    client_cert, client_key = pki.ensure_client_cert(tmp_path, ca)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem")
    server.load_verify_locations(cadata=ca.cert_pem.decode())
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    client.load_cert_chain(client_cert, client_key)
    a, b = socket.socketpair()
    seen = {}

    def serve():
        with server.wrap_socket(a, server_side=True) as s:
            seen["peer"] = s.getpeercert()["subject"]
            s.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    with client.wrap_socket(b, server_hostname="10.0.0.5") as c:
        assert c.recv(2) == b"ok"
    t.join(5)
    assert seen["peer"] == ((("commonName", "paasops-service"),),)


def test_client_cert_created_once_with_client_auth(tmp_path):
    ca = pki.ensure_ca(tmp_path)
    cert_path, key_path = pki.ensure_client_cert(tmp_path, ca)
    first = cert_path.read_bytes()
    assert pki.ensure_client_cert(tmp_path, ca) == (cert_path, key_path)
    assert cert_path.read_bytes() == first
    cert = x509.load_pem_x509_certificate(first)
    cert.verify_directly_issued_by(ca.cert)
    assert eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "paasops-service"
    assert mode(key_path) == 0o600


def test_server_cert_for_is_idempotent(tmp_path):
    first = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    assert pki.server_cert_for(tmp_path, "web1", "10.0.0.5") == first
    host = tmp_path / "hosts" / "web1"
    assert (host / "cert.pem").read_bytes() == first[0]
    assert mode(host / "key.pem") == 0o600
    assert mode(host / "cert.pem") == 0o600
    cert = x509.load_pem_x509_certificate(first[0])
    assert pki.cert_sans(cert) == ({"10.0.0.5", "127.0.0.1"}, {"web1", "localhost"})


def test_server_cert_for_reissues_when_address_changes(tmp_path):
    first = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    second = pki.server_cert_for(tmp_path, "web1", "10.0.0.6")
    assert second != first
    cert = x509.load_pem_x509_certificate(second[0])
    assert "10.0.0.6" in pki.cert_sans(cert)[0]
    assert pki.server_cert_for(tmp_path, "web1", "10.0.0.6") == second


def test_server_cert_for_reissues_close_to_expiry(tmp_path, monkeypatch):
    first = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=pki.LEAF_DAYS - 10)
    monkeypatch.setattr(pki, "_now", lambda: later)
    assert pki.server_cert_for(tmp_path, "web1", "10.0.0.5") != first


def test_server_cert_for_reissues_after_a_new_ca(tmp_path):
    first = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    (tmp_path / "ca.pem").unlink()
    (tmp_path / "ca-key.pem").unlink()
    cert_pem, _ = pki.server_cert_for(tmp_path, "web1", "10.0.0.5")
    assert cert_pem != first[0]
    x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(pki.ensure_ca(tmp_path).cert)


def test_host_name_as_address(tmp_path):
    assert pki.server_sans("10.0.0.7", "10.0.0.7") == (["127.0.0.1", "10.0.0.7"], ["localhost"])
    with pytest.raises(pki.PaasopsError):
        pki.server_cert_for(tmp_path, "../evil", "10.0.0.7")


def test_default_pki_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PAASOPS_PKI_DIR", str(tmp_path / "x"))
    assert pki.default_pki_dir() == tmp_path / "x"
    monkeypatch.delenv("PAASOPS_PKI_DIR")
    assert pki.default_pki_dir().parts[-2:] == ("paasops", "pki")


def test_etcd_pki_is_its_own_ca_so_agent_certs_open_no_docker_engine(tmp_path):
    d = tmp_path / "pki"
    cluster = pki.ensure_ca(d)
    files = pki.etcd_client_files(d)
    etcd_ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert etcd_ca.subject != cluster.cert.subject
    cert_pem, key_pem = pki.agent_cert_for(d, "lab1")
    agent = x509.load_pem_x509_certificate(cert_pem)
    assert pki.cert_cn(agent) == "lab1" and eku(agent) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    agent.verify_directly_issued_by(etcd_ca)
    with pytest.raises(ValueError):  # another issuer: dockerd (trusting the cluster CA) refuses it
        agent.verify_directly_issued_by(cluster.cert)
    assert pki.agent_cert_for(d, "lab1") == (cert_pem, key_pem)  # cached: bootstrap stays idempotent
    service = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert pki.cert_cn(service) == pki.CLIENT_CN
    for path in (files.ca.parent / "ca-key.pem", files.key, d / "hosts" / "lab1" / "agent-key.pem"):
        assert mode(path) == 0o600


def test_etcd_server_cert_names_its_addresses_and_is_a_client_cert_too(tmp_path):
    cert_path, key_path = pki.etcd_server_files(tmp_path, ["172.18.0.1"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert pki.cert_sans(cert) == ({"127.0.0.1", "172.18.0.1"}, {"localhost"})
    assert set(eku(cert)) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    before = cert_path.read_bytes()
    assert pki.etcd_server_files(tmp_path, ["172.18.0.1"])[0].read_bytes() == before  # reused
    assert pki.etcd_server_files(tmp_path, ["10.0.0.9"])[0].read_bytes() != before  # other SANs: reissued


def test_enrolled_marks(tmp_path):
    assert pki.enrolled_at(tmp_path, "lab1") is None
    pki.mark_enrolled(tmp_path, "lab1")
    at = pki.enrolled_at(tmp_path, "lab1")
    assert at is not None and abs(at - dt.datetime.now(dt.UTC).timestamp()) < 5
    assert pki.enrolled_at(tmp_path, "../x") is None
