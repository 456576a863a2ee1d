"""Which transport the service uses for an engine: mutual TLS when it says TLS, plain TCP only when allowed."""

from __future__ import annotations

import pytest

from paasops.engines.client import client_for, make_client
from paasops.errors import ConnectionFailed, ForbiddenError, UserInputError
from paasops.service.engine import EngineHandle
from paasops.service.engine_pool import EnginePool
from paasops.service.registration import (
    INSECURE_TCP,
    engine_endpoint,
    manual_engine,
    plain_tcp_refusal,
)
from paasops.store.records import Engine
from paasops.vocabulary import EngineEndpoint


@pytest.fixture
def pki(tmp_path):
    for name in ("ca.pem", "client-cert.pem", "client-key.pem"):
        (tmp_path / name).write_text("not read until a connection is made\n")
    return tmp_path


# -- make_client: no I/O happens until a client is used ---------------------------------------
def test_tls_means_https_with_our_client_cert_verified_against_the_cluster_ca(pki):
    api = make_client("10.0.0.1", 2376, pki_dir=pki).api
    assert api.base_url == "https://10.0.0.1:2376"
    assert api.cert == (str(pki / "client-cert.pem"), str(pki / "client-key.pem"))
    assert api.verify == str(pki / "ca.pem")
    assert api.trust_env is False  # no proxy, no CA bundle from the environment


def test_tls_without_the_cluster_ca_is_refused(tmp_path):
    with pytest.raises(ConnectionFailed, match="no cluster CA"):
        make_client("10.0.0.1", 2376, pki_dir=tmp_path)


def test_tls_off_means_plain_http_without_certificates(tmp_path):
    api = make_client("127.0.0.1", 2375, tls=False, pki_dir=tmp_path).api  # no CA needed
    assert api.base_url == "http://127.0.0.1:2375"
    assert not api.cert and api.trust_env is False


def test_client_for_follows_the_endpoint(pki):
    assert client_for(EngineEndpoint("10.0.0.2", 2375, False)).api.base_url == "http://10.0.0.2:2375"
    assert client_for(EngineEndpoint("10.0.0.2", 3376, True), pki_dir=pki).api.base_url == "https://10.0.0.2:3376"
    assert client_for(EngineEndpoint("local", 0, False)).api.base_url == "http+docker://localhost"


# -- how a record is reached ------------------------------------------------------------------
@pytest.mark.parametrize("record, endpoint", [
    (Engine("e", "10.0.0.1", "https://10.0.0.1:2376"), ("10.0.0.1", 2376, True)),
    (Engine("e", "10.0.0.1", "tcp://10.0.0.1:2375", tls=False), ("10.0.0.1", 2375, False)),
    (Engine("e", "10.0.0.1", "http://10.0.0.1:2375", tls=False), ("10.0.0.1", 2375, False)),  # as stored before
    # when the record and its URL disagree, TLS wins
    (Engine("e", "10.0.0.1", "tcp://10.0.0.1:2375", tls=True), ("10.0.0.1", 2375, True)),
    (Engine("e", "10.0.0.1", "https://10.0.0.1:2376", tls=False), ("10.0.0.1", 2376, True)),
    (Engine("e", "10.0.0.1", "", tls=False), ("10.0.0.1", 2376, True)),  # no URL: the TLS default
    (Engine("local", "local", "unix:///var/run/docker.sock", tls=False), ("local", 0, False)),
])
def test_engine_endpoint(record, endpoint):
    assert engine_endpoint(record) == endpoint


PLAIN = Engine("p", "127.0.0.1", "tcp://127.0.0.1:2375", tls=False)


def test_plain_tcp_needs_an_admin_allowance():
    assert "engine p has TLS off: plain TCP to tcp://127.0.0.1:2375" in plain_tcp_refusal(PLAIN)
    assert plain_tcp_refusal(PLAIN, allow_all=True) is None  # the service setting allow_insecure_tcp
    allowed = Engine("p", "127.0.0.1", "tcp://127.0.0.1:2375", tls=False, meta={INSECURE_TCP: True})
    assert plain_tcp_refusal(allowed) is None
    assert plain_tcp_refusal(Engine("t", "10.0.0.1", "https://10.0.0.1:2376")) is None
    assert plain_tcp_refusal(Engine("local", "local", "unix:///var/run/docker.sock", tls=False)) is None


def test_an_engine_handle_does_not_connect_over_plain_tcp_unless_allowed(tmp_path):
    with pytest.raises(ConnectionFailed, match="has TLS off"):
        EngineHandle(PLAIN, tmp_path).open_client(5)
    client = EngineHandle(PLAIN, tmp_path, allow_plain_tcp=True).open_client(5)
    assert client.api.base_url == "http://127.0.0.1:2375"


# -- an engine added by hand (POST /api/engines) ------------------------------------------------
def test_manual_engine_defaults_to_tls():
    record = manual_engine("10.0.0.3", port=2376, role="user")
    assert (record.id, record.docker_url, record.tls, record.source, record.meta) == \
        ("10.0.0.3", "https://10.0.0.3:2376", True, "manual", {})


def test_manual_engine_over_plain_tcp_by_an_admin():
    record = manual_engine("127.0.0.1", engine_id="plain", port=2375, tls=False, insecure_tcp=True,
                           role="admin", user="alice")
    assert (record.id, record.docker_url, record.tls) == ("plain", "tcp://127.0.0.1:2375", False)
    assert record.meta == {INSECURE_TCP: True, "insecure_tcp_allowed_by": "alice"}
    assert plain_tcp_refusal(record) is None


def test_manual_engine_refusals():
    with pytest.raises(UserInputError, match="tls: false means plain TCP.*add insecure_tcp: true"):
        manual_engine("127.0.0.1", port=2375, tls=False, role="admin")
    with pytest.raises(ForbiddenError, match="role 'operator' may not add an engine over plain TCP"):
        manual_engine("127.0.0.1", port=2375, tls=False, insecure_tcp=True, role="operator")
    with pytest.raises(UserInputError, match="insecure_tcp: true goes with tls: false only"):
        manual_engine("10.0.0.3", insecure_tcp=True, role="admin")


def test_manual_local_engine_is_the_socket():
    record = manual_engine("local", role="admin")
    assert (record.docker_url, record.tls, record.meta) == ("unix:///var/run/docker.sock", False, {})


def test_the_engine_pool_refuses_plain_tcp_unless_the_service_allows_it():
    with pytest.raises(UserInputError, match="has TLS off"):
        EnginePool(store=None, events=None).check_transport(PLAIN)
    EnginePool(store=None, events=None, allow_plain_tcp=True).check_transport(PLAIN)  # setting allow_insecure_tcp
