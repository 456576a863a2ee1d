"""prepare_hosts: the per-host certificates and variables bootstrap.yml reads (files in a temp pki dir only)."""

from __future__ import annotations

import pytest
from cryptography import x509

from paasops import pki
from paasops.bootstrap import prepare_hosts
from paasops.errors import UserInputError
from paasops.inventory.model import Host


def test_each_agent_gets_its_own_etcd_client_cert_and_the_etcd_ca(tmp_path):
    hosts = [Host("web1", "10.0.0.1"), Host("web2", "10.0.0.2")]
    prepare_hosts(hosts, tmp_path, ["https://10.0.0.9:2379"])
    etcd_ca = pki.EtcdFiles.in_dir(tmp_path).ca.read_text()
    for host in hosts:
        assert host.vars["etcd_ca_pem"] == etcd_ca and host.vars["etcd_endpoints"] == ["https://10.0.0.9:2379"]
        cert = x509.load_pem_x509_certificate(host.vars["etcd_cert_pem"].encode())
        assert pki.cert_cn(cert) == host.name  # CN = engine id
        assert "PRIVATE KEY" in host.vars["etcd_key_pem"]
        assert pki.enrolled_at(tmp_path, host.name) is not None  # lifts an admin's removal of it
    assert pki.EtcdFiles.in_dir(tmp_path).cert.exists()  # the service's etcd client cert too


def test_plain_http_etcd_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="not https://"):
        prepare_hosts([Host("web1", "10.0.0.1")], tmp_path, ["http://10.0.0.9:2379"])
