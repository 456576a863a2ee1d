"""Engine registrations in etcd: parsing a value, writing one, and etcd endpoints (pure, no etcd)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from paasops.service.registration import (
    engine_value,
    etcd_transport_refusal,
    local_refusal,
    parse_engine,
    parse_etcd_endpoint,
)
from paasops.store.records import Engine

GOOD = {"id": "e1", "address": "10.0.0.1", "docker_port": 2376, "cpus": 4, "memory_mb": 4096,
        "labels": {"zone": "a", "gen": 3}, "tls": True, "registered_at": "2026-01-01T00:00:00+00:00"}


def value(**changes) -> str:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_a_good_registration():
    engine = parse_engine("e1", value())
    assert (engine.id, engine.address, engine.docker_url, engine.cpus, engine.memory_mb, engine.tls) == \
        ("e1", "10.0.0.1", "https://10.0.0.1:2376", 4.0, 4096, True)
    assert engine.labels == {"zone": "a", "gen": "3"}  # label values are strings
    assert engine.source == "etcd" and engine.meta == {"registered_at": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("changes, url", [
    ({"tls": False, "docker_port": 2375}, "tcp://10.0.0.1:2375"),  # plain TCP, as Docker spells it
    ({"address": "fd00::1"}, "https://[fd00::1]:2376"),
    ({"docker_port": ...}, "https://10.0.0.1:2376"),
    ({"docker_url": "https://engine.example:3376"}, "https://engine.example:3376"),  # given wins
])
def test_the_docker_url(changes, url):
    assert parse_engine("e1", value(**changes)).docker_url == url


@pytest.mark.parametrize("raw, message", [
    ("{", "not JSON"),
    ("[1]", "expected a JSON object"),
    (value(id="e2"), "id 'e2' differs from the key's 'e1'"),
    (value(address=" "), "address: expected a host name or IP address"),
    (value(docker_port=70000), "docker_port: expected a port number, got 70000"),
    (value(docker_port=True), "docker_port: expected a port number, got True"),
    (value(cpus=0), "cpus: expected a positive number, got 0"),
    (value(memory_mb="4G"), "memory_mb: expected a positive number, got '4G'"),
    (value(labels=["a"]), "labels: expected an object"),
    (value(tls="yes"), "tls: expected true or false, got 'yes'"),
])
def test_bad_registrations_say_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        parse_engine("e1", raw)


def test_engine_value_round_trips_through_parse_engine():
    engine = Engine(id="e9", address="10.0.0.9", docker_url="tcp://10.0.0.9:2375", cpus=2, memory_mb=2048,
                    labels={"zone": "b"}, tls=False)
    raw = engine_value(engine, registered_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert json.loads(raw)["docker_port"] == 2375
    assert json.loads(raw)["registered_at"] == "2026-01-02T00:00:00+00:00"
    back = parse_engine("e9", raw)
    assert (back.address, back.docker_url, back.cpus, back.memory_mb, back.labels, back.tls) == \
        ("10.0.0.9", "tcp://10.0.0.9:2375", 2.0, 2048, {"zone": "b"}, False)


def test_engine_value_without_a_url_uses_the_tls_port():
    assert json.loads(engine_value(Engine(id="e", address="h", cpus=1, memory_mb=1)))["docker_port"] == 2376


@pytest.mark.parametrize("endpoint, parsed", [
    ("127.0.0.1:2379", ("127.0.0.1", 2379, False)),
    ("etcd.example", ("etcd.example", 2379, False)),
    ("https://10.0.0.5:12379", ("10.0.0.5", 12379, True)),
    ("http://[fd00::2]:2379", ("fd00::2", 2379, False)),
])
def test_parse_etcd_endpoint(endpoint, parsed):
    assert parse_etcd_endpoint(endpoint) == parsed


@pytest.mark.parametrize("endpoints, insecure, refused", [
    (["https://10.0.0.5:2379"], False, None),
    (["http://10.0.0.5:2379"], False, "is plain http"),
    (["10.0.0.5:2379"], False, "is plain http"),  # no scheme means plain http: refused too
    (["http://127.0.0.1:2379"], False, "--insecure-etcd"),
    (["http://127.0.0.1:2379", "http://localhost:2379", "http://[::1]:2379"], True, None),
    (["http://10.0.0.5:2379"], True, "non-loopback"),
    (["https://10.0.0.5:2379", "http://10.0.0.6:2379"], True, "10.0.0.6"),
])
def test_etcd_transport_refusal(endpoints, insecure, refused):
    why = etcd_transport_refusal(endpoints, insecure=insecure)
    assert (why is None) if refused is None else (refused in why)


@pytest.mark.parametrize("engine, refused", [
    (Engine(id="e1", address="10.0.0.1", docker_url="https://10.0.0.1:2376"), False),
    (Engine(id="e1", address="local", docker_url="unix:///var/run/docker.sock"), True),
    (Engine(id="local", address="10.0.0.1", docker_url="https://10.0.0.1:2376"), True),
    (Engine(id="e1", address="10.0.0.1", docker_url="unix:///var/run/docker.sock"), True),
])
def test_local_refusal(engine, refused):
    assert (local_refusal(engine) is not None) == refused


def test_an_etcd_value_with_address_local_parses_to_the_socket_and_is_refused():
    engine = parse_engine("evil", value(id="evil", address="local"))
    assert engine.docker_url.startswith("unix://") and "only `paasops serve --local-engine`" in local_refusal(engine)
