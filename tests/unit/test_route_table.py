"""The route table (pure): backends from ready replicas on routed hosts, drain, conflicts, diffs and views."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from paasops.errors import UserInputError
from paasops.expose import Expose
from paasops.service.containers import ContainerView
from paasops.service.route_table import (
    Host,
    backends,
    cert_fingerprint,
    cert_value,
    changes,
    check_conflicts,
    edges_applied,
    encode,
    exposes,
    published_port,
    published_ready,
    route_table,
    route_view,
)

HTTP = {"port": 8080, "hostnames": ["hello.example.test"]}
HOSTS = {"h1": Host("10.0.0.1", "up"), "h2": Host("10.0.0.2", "degraded"), "h3": Host("10.0.0.3", "suspect"),
         "h4": Host("10.0.0.4", "down")}


def replica(n: int, engine: str = "h1", *, app: str = "hello", state: str = "running", status: str = "Up 1 minute",
            host_port: int | None = 32768, container: int = 8080) -> ContainerView:
    ports = [{"container": container, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": host_port}]
    return ContainerView(id=f"{n:02d}" + "a" * 62, name=f"{app}-{n}", engine_id=engine, image="img", state=state,
                         status=status, labels={"paasops.app": app}, ports=ports)


def test_backends_are_the_ready_replicas_on_up_or_degraded_hosts():
    views = [replica(1, "h1", host_port=32768), replica(2, "h2", host_port=32769),
             replica(3, "h3"), replica(4, "h4"),  # suspect and down hosts: not routed
             replica(5, "h1", status="Up 3 seconds (health: starting)"),  # not ready yet
             replica(6, "h1", status="Up 1 minute (unhealthy)"),
             replica(7, "h1", state="exited", status="Exited (0)"),
             replica(8, "h1", host_port=None),  # the port is not published
             replica(9, "h1", container=9999),  # another port published
             replica(10, "h5"),  # an engine the service does not know
             replica(11, "h1", app="other"),
             replica(12, "h1", status="Up 2 minutes (healthy)", host_port=32770)]
    got = backends("hello", Expose(**HTTP), views, HOSTS)
    assert got == [
        {"id": "01aaaaaaaaaa", "name": "hello-1", "address": "10.0.0.1", "port": 32768, "state": "ready"},
        {"id": "12aaaaaaaaaa", "name": "hello-12", "address": "10.0.0.1", "port": 32770, "state": "ready"},
        {"id": "02aaaaaaaaaa", "name": "hello-2", "address": "10.0.0.2", "port": 32769, "state": "ready"},
    ]


def test_withdrawn_replicas_are_drain():
    views = [replica(1), replica(2)]
    got = backends("hello", Expose(**HTTP), views, HOSTS, withdrawn={views[1].id})
    assert [(b["name"], b["state"]) for b in got] == [("hello-1", "ready"), ("hello-2", "drain")]


def test_published_port_takes_the_tcp_port_of_the_exposed_container_port():
    view = replica(1)
    view.ports = [{"container": 8080, "protocol": "udp", "host_port": 1000},
                  {"container": 8080, "protocol": "tcp", "host_port": 40001},
                  {"container": 8080, "protocol": "tcp", "host_port": 40000}]
    assert published_port(view, 8080) == 40000 and published_port(view, 80) is None
    # Docker may publish one ephemeral port per address family: the edges reach IPv4 addresses on IPv4's
    view.ports = [{"container": 8080, "protocol": "tcp", "host_ip": "::", "host_port": 32824},
                  {"container": 8080, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 32817}]
    assert published_port(view, 8080) == 32817 and published_port(view, 8080, ipv6=True) == 32824
    view.ports = view.ports[:1]
    assert published_port(view, 8080) == 32824  # only IPv6 listed: that one


def test_route_table_values_follow_the_contract():
    apps = [("hello", {"expose": HTTP}), ("db", {"expose": {"port": 5432, "tcp": 15432}}), ("plain", {}),
            ("broken", {"expose": {"port": "x"}})]
    views = [replica(1), replica(1, app="db", container=5432, host_port=40000)]
    table = route_table(apps, views, HOSTS)
    assert sorted(table) == ["db", "hello"]
    assert table["hello"] == {"app": "hello", "mode": "http", "hostnames": ["hello.example.test"], "path": "/",
                              "https_redirect": False, "tcp_port": None, "backends": [
                                  {"id": "01aaaaaaaaaa", "name": "hello-1", "address": "10.0.0.1", "port": 32768,
                                   "state": "ready"}]}
    assert table["db"]["mode"] == "tcp" and table["db"]["tcp_port"] == 15432 and table["db"]["hostnames"] == []
    assert table["db"]["path"] is None and table["db"]["backends"][0]["port"] == 40000


def test_exposes_skips_records_without_a_valid_expose():
    assert list(exposes([("a", {"expose": HTTP}), ("b", {"expose": None}), ("c", {"expose": {"tcp": 1}})])) == ["a"]


@pytest.mark.parametrize("mine, theirs, message", [
    (HTTP, HTTP, "expose.hostnames: hello.example.test/ is already routed to app 'other'"),
    ({"port": 1, "hostnames": ["x.test", "hello.example.test"]}, HTTP,
     "expose.hostnames: hello.example.test/ is already routed to app 'other'"),
    ({"port": 1, "tcp": 15432}, {"port": 2, "tcp": 15432}, "expose.tcp: port 15432 is already routed to app 'other'"),
])
def test_a_route_another_app_has_is_refused_naming_it(mine, theirs, message):
    with pytest.raises(UserInputError) as caught:
        check_conflicts("hello", Expose(**mine), {"other": Expose(**theirs)})
    assert message in str(caught.value) and caught.value.where == "hello"


@pytest.mark.parametrize("mine, theirs", [
    ({**HTTP, "path": "/api"}, HTTP),  # another path on the same host: routed by prefix
    ({"port": 1, "hostnames": ["a.test"]}, HTTP),
    ({"port": 1, "tcp": 15432}, {"port": 1, "tcp": 15433}),
    ({"port": 1, "tcp": 8080}, {"port": 8080, "hostnames": ["a.test"]}),  # the container port is no edge port
])
def test_distinct_routes_do_not_conflict(mine, theirs):
    check_conflicts("hello", Expose(**mine), {"other": Expose(**theirs)})


def test_an_app_never_conflicts_with_itself_nor_without_expose():
    check_conflicts("hello", Expose(**HTTP), {"hello": Expose(**HTTP)})
    check_conflicts("hello", None, {"other": Expose(**HTTP)})


def test_changes_put_only_what_differs_and_delete_what_is_gone():
    desired = {"a": encode({"x": 1}), "b": encode({"y": 2}), "c": encode({"z": 3})}
    current = {"a": encode({"x": 1}), "b": encode({"y": 1}), "d": b"{}"}
    assert changes(desired, current) == ({"b": encode({"y": 2}), "c": encode({"z": 3})}, ["d"])
    assert changes(desired, desired) == ({}, [])
    assert encode({"b": 1, "a": [1]}) == b'{"a":[1],"b":1}'


def test_published_ready_and_edges_applied():
    value = {"backends": [{"id": "01aaaaaaaaaa", "state": "ready"}, {"id": "02aaaaaaaaaa", "state": "drain"}]}
    assert published_ready(value, "01" + "a" * 62) and not published_ready(value, "02" + "a" * 62)
    assert not published_ready(None, "01" + "a" * 62)
    edges = {"h1": {"revision": 10}, "h2": {"revision": 7}, "h3": {"revision": 3}}
    assert edges_applied(edges, ["h1", "h2", "h4"], 8) == ["h2", "h4"]  # h3 not live; h4 never reported
    assert edges_applied(edges, ["h1"], 10) == []


def test_cert_value_fingerprints_the_first_certificate():
    der = b"\x30\x03\x02\x01\x01"
    pem = ("-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der).decode() + "\n-----END CERTIFICATE-----\n"
           "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert cert_fingerprint(pem) == hashlib.sha256(der).hexdigest()
    assert cert_value("a.test", pem) == {"hostname": "a.test", "pem": pem, "fingerprint": hashlib.sha256(der).hexdigest()}
    assert cert_fingerprint("no cert") == ""


def test_route_view_shows_each_edge_and_its_lag():
    value = {"app": "hello", "mode": "http", "hostnames": ["hello.example.test"], "path": "/", "https_redirect": False,
             "tcp_port": None, "backends": [{"id": "01aaaaaaaaaa", "name": "hello-1", "address": "10.0.0.1",
                                             "port": 32768, "state": "ready"}]}
    edges = {"h1": {"engine": "h1", "revision": 12, "applied_at": "2026-01-01T00:00:00+00:00", "error": None,
                    "servers": {"hello/01aaaaaaaaaa": "ready", "other/x": "drain"}},
             "h2": {"engine": "h2", "revision": 9, "error": "reload failed", "servers": {}}}
    view = route_view(value, revision=10, edges=edges, edge_addresses={"h1": "10.0.0.1", "h2": "10.0.0.2"},
                      edge_status={"h1": "up"}, https_hosts=frozenset({"hello.example.test"}))
    assert view.urls == ["http://hello.example.test/", "https://hello.example.test/"]
    assert [(e.engine, e.status, e.lag, e.current, e.serving, e.error) for e in view.edges] == [
        ("h1", "up", 0, True, {"01aaaaaaaaaa": "ready"}, None),
        ("h2", "unknown", 1, False, {}, "reload failed")]
    tcp = route_view({**value, "mode": "tcp", "hostnames": [], "path": None, "tcp_port": 15432}, edges=edges,
                     edge_addresses={"h1": "10.0.0.1", "h2": "10.0.0.2", "h9": "10.0.0.9"})
    assert tcp.urls == ["tcp://10.0.0.1:15432", "tcp://10.0.0.2:15432"]  # the edges' addresses only
    json.dumps(view.model_dump())


def test_before_stop_is_at_once_for_a_replica_no_route_serves():
    import time

    from paasops.service.route_publisher import RoutePublisher

    publisher = RoutePublisher(["https://127.0.0.1:9"], table=lambda withdrawn: {}, drain_grace=5, drain_timeout=5)
    started = time.monotonic()
    publisher.before_stop(replica(1))  # not exposed: no etcd, no wait
    publisher.exposed = frozenset({"hello"})
    publisher.before_stop(replica(2))  # exposed, but not published as ready: withdrawn, no wait
    assert time.monotonic() - started < 0.5
    assert publisher.withdrawn == {replica(2).id}


def test_with_etcd_away_a_stop_is_neither_held_up_nor_waits():
    import time

    from paasops.service.route_publisher import RoutePublisher

    publisher = RoutePublisher(["https://127.0.0.1:9"], table=lambda withdrawn: {}, drain_grace=5, drain_timeout=5)
    publisher.exposed, publisher.error = frozenset({"hello"}), "ConnectionError: refused"
    started = time.monotonic()
    publisher.before_stop(replica(1))
    assert publisher.withdrawn == {replica(1).id}
    publisher.after_stop(replica(1))  # pokes the sweep instead of calling etcd
    assert time.monotonic() - started < 0.5 and publisher.withdrawn == frozenset()
