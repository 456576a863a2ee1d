"""The edge part of bin/paasops-register: routes → slot layout → haproxy.cfg, and the runtime API
commands between two layouts (pure functions of the stdlib-only script, loaded from its file)."""

from __future__ import annotations

import importlib.util
import json
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "bin" / "paasops-register"
_loader = SourceFileLoader("paasops_register_edge", str(AGENT))
reg = importlib.util.module_from_spec(importlib.util.spec_from_loader(_loader.name, _loader))
_loader.exec_module(reg)

EDGE = reg.validate_edge({})


def backend(i: int, state: str = "ready", port: int | None = None) -> dict:
    return {"id": f"c{i:011d}", "name": f"hello-{i}", "address": f"172.18.0.{i}", "port": port or 32768 + i,
            "state": state}


def http(backends, hostnames=("hello.example.test",), path="/", https_redirect=False) -> dict:
    return {"app": "hello", "mode": "http", "hostnames": list(hostnames), "path": path,
            "https_redirect": https_redirect, "tcp_port": None, "backends": list(backends)}


def tcp(backends, port=15432) -> dict:
    return {"app": "pg", "mode": "tcp", "hostnames": [], "path": None, "https_redirect": False,
            "tcp_port": port, "backends": list(backends)}


def layout(routes: dict, previous: dict | None = None) -> dict:
    return reg.plan_layout({app: reg.parse_route(app, value) for app, value in routes.items()}, previous)


def servers_of(text: str, proxy: str) -> list[str]:
    block = text.split(f"\n{proxy}\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("server ")]


# -- parsing ----------------------------------------------------------------------------------

def test_a_route_is_normalised():
    route = reg.parse_route("hello", http([backend(1), backend(2, "drain")], ["Hello.Example.TEST"], "/api/"))
    assert route["hostnames"] == ["hello.example.test"] and route["path"] == "/api"
    assert route["backends"]["c00000000002"] == {"address": "172.18.0.2", "port": 32770, "state": "drain"}


@pytest.mark.parametrize("app,change,message", [
    ("hello", {"mode": "udp"}, "mode: expected 'http' or 'tcp'"),
    ("hello", {"hostnames": []}, "hostnames: expected a non-empty list"),
    ("hello", {"hostnames": ["a.test }\n    use_backend x"]}, "is not a DNS name"),  # no config injection
    ("hello", {"path": "/a b"}, "is not an absolute URL path"),
    ("hello", {"path": "api"}, "is not an absolute URL path"),
    ("hello", {"backends": [{**backend(1), "state": "up"}]}, "is not ready or drain"),
    ("hello", {"backends": [{**backend(1), "port": 70000}]}, "expected a port 1-65535"),
    ("hello", {"backends": [{**backend(1), "address": "1.2.3.4 check"}]}, "is not an address"),
    ("hello world", {}, "app name 'hello world'"),
])
def test_bad_routes_are_refused_with_what_is_wrong(app, change, message):
    with pytest.raises(reg.RouteError, match=message):
        reg.parse_route(app, {**http([backend(1)]), **change})


def test_tcp_route_needs_a_port():
    assert reg.parse_route("pg", tcp([backend(1)]))["tcp_port"] == 15432
    with pytest.raises(reg.RouteError, match="tcp_port"):
        reg.parse_route("pg", tcp([backend(1)], port=None))


def test_a_cert_needs_its_key_and_is_never_in_the_error():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with pytest.raises(reg.RouteError) as refused:
        reg.parse_cert("hello.example.test", {"pem": pem})
    assert "MIIB" not in str(refused.value)
    good = reg.parse_cert("hello.example.test", {"pem": pem + "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----",
                                                 "fingerprint": "ab"})
    assert good["fingerprint"] == "ab" and good["pem"].endswith("\n")


# -- slots ------------------------------------------------------------------------------------

@pytest.mark.parametrize("count,slots", [(0, 8), (1, 8), (8, 8), (9, 16), (17, 32), (33, 64)])
def test_slots_are_a_power_of_two_of_at_least_eight(count, slots):
    assert reg.slots_for(count) == slots


def test_backends_keep_their_slots_and_new_ones_take_the_lowest_free():
    first = layout({"hello": http([backend(1), backend(2), backend(3)])})
    assert {s: v["id"] for s, v in first["hello"]["servers"].items()} == {
        "1": "c00000000001", "2": "c00000000002", "3": "c00000000003"}
    second = layout({"hello": http([backend(1), backend(3), backend(4)])}, first)
    assert {s: v["id"] for s, v in second["hello"]["servers"].items()} == {
        "1": "c00000000001", "2": "c00000000004", "3": "c00000000003"}


def test_slots_grow_past_eight_and_do_not_shrink_while_the_app_exists():
    big = layout({"hello": http([backend(i) for i in range(1, 10)])})
    assert big["hello"]["slots"] == 16
    small = layout({"hello": http([backend(1)])}, big)
    assert small["hello"]["slots"] == 16  # scaling down is a runtime change, not a reload
    assert layout({"hello": http([backend(1)])})["hello"]["slots"] == 8


# -- config -----------------------------------------------------------------------------------

def test_config_with_no_routes_answers_503_and_has_no_https():
    text = reg.render_config(EDGE, {}, [])
    assert text.startswith(reg.MANAGED_MARK)
    assert "    master-worker" in text
    assert "stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners" in text
    for line in ("timeout connect 1s", "retries 3", "option redispatch 1", "bind :80",
                 "default_backend paasops_no_route", "http-request return status 503"):
        assert f"    {line}" in text, line
    assert "frontend https" not in text and "ssl crt" not in text


def test_config_routes_by_host_then_longest_path_and_fills_every_slot():
    routes = {"hello": http([backend(1), backend(2, "drain")]),
              "api": {**http([backend(3)], path="/api"), "app": "api"},
              "pg": tcp([backend(4)])}
    text = reg.render_config(EDGE, layout(routes), [])
    rules = [line.split()[1] for line in text.split("frontend http\n")[1].split("\n\n")[0].splitlines()
             if "use_backend" in line]
    assert rules == ["app_api", "app_hello"]  # /api before /
    assert "{ path -m str /api } or" in text and "{ path_beg /api/ }" in text
    servers = servers_of(text, "backend app_hello")
    assert len(servers) == 8
    assert servers[0] == "server s1 172.18.0.1:32769 check inter 1s fastinter 250ms fall 2 rise 1  # c00000000001"
    assert servers[1].startswith("server s2 172.18.0.2:32770 disabled check")  # draining: no new requests
    assert all(s.startswith(f"server s{i} {reg.PLACEHOLDER} disabled check") for i, s in enumerate(servers[2:], 3))
    assert "retry-on conn-failure empty-response response-timeout" in text
    listen = text.split("\nlisten app_pg\n")[1].split("\n\n")[0]
    assert "    mode tcp" in listen and "    bind :15432" in listen
    assert "s1 172.18.0.4:32772 check" in listen


def test_https_frontend_and_redirect_only_with_a_certificate():
    routes = {"hello": http([backend(1)], https_redirect=True)}
    without = reg.render_config(EDGE, layout(routes), [])
    assert "redirect scheme https" not in without  # nothing would answer on 443
    edge = reg.validate_edge({"https_port": 8443, "certs_dir": "/etc/x/certs"})
    text = reg.render_config(edge, layout(routes), ["hello.example.test"])
    assert "    bind :8443 ssl crt /etc/x/certs" in text
    assert "http-request redirect scheme https code 301 if !{ ssl_fc }" in servers_block(text)


def servers_block(text: str) -> str:
    return text.split("\nbackend app_hello\n", 1)[1]


def test_user_is_optional():
    assert "    user haproxy" in reg.render_config(EDGE, {}, [])
    assert "user " not in reg.render_config(reg.validate_edge({"user": None}), {}, [])


# -- runtime changes vs reloads ---------------------------------------------------------------

def test_server_changes_keep_the_structure_and_become_runtime_commands():
    before = layout({"hello": http([backend(1), backend(2)])})
    after = layout({"hello": http([backend(1, "drain"), backend(3), {**backend(2), "port": 40000}])}, before)
    assert reg.structure(EDGE, before, {}) == reg.structure(EDGE, after, {})
    assert reg.runtime_commands(before, after) == [
        "set server app_hello/s1 state drain",
        "set server app_hello/s2 addr 172.18.0.2 port 40000", "set server app_hello/s2 state ready",
        "set server app_hello/s3 addr 172.18.0.3 port 32771", "set server app_hello/s3 state ready"]
    gone = layout({"hello": http([backend(3)])}, after)
    assert reg.runtime_commands(after, gone) == ["set server app_hello/s1 state maint",
                                                 "set server app_hello/s2 state maint"]
    assert reg.runtime_commands(gone, gone) == []


CERTS = {"hello.example.test": {"fingerprint": "ab"}}


@pytest.mark.parametrize("change", [
    {"hostnames": ["other.example.test"]}, {"path": "/v2"}, {"https_redirect": True},
    {"backends": [backend(i) for i in range(1, 10)]},  # more than 8 slots
])
def test_structural_changes_need_a_reload(change):
    before = layout({"hello": http([backend(1)])})
    after = layout({"hello": {**http([backend(1)]), **change}}, before)
    assert reg.structure(EDGE, before, CERTS) != reg.structure(EDGE, after, CERTS)


def test_what_does_not_change_the_config_needs_no_reload():
    before = layout({"hello": http([backend(1)])})
    redirect = layout({"hello": http([backend(1)], https_redirect=True)}, before)
    assert reg.structure(EDGE, before, {}) == reg.structure(EDGE, redirect, {})  # no cert: nothing to redirect to


def test_new_app_certificate_or_port_needs_a_reload():
    before = layout({"hello": http([backend(1)])})
    assert reg.structure(EDGE, before, {}) != reg.structure(
        EDGE, layout({"hello": http([backend(1)]), "pg": tcp([])}), {})
    assert reg.structure(EDGE, before, {}) != reg.structure(EDGE, before, CERTS)
    renewed = {"hello.example.test": {"fingerprint": "cd"}}  # same hostname, new certificate
    assert reg.structure(EDGE, before, CERTS) != reg.structure(EDGE, before, renewed)
    assert reg.structure(EDGE, before, {}) != reg.structure(reg.validate_edge({"http_port": 8080}), before, {})


def test_ack_names_every_server_with_its_state():
    ack = reg.edge_ack("lab1", 42, EDGE, layout({"hello": http([backend(1), backend(2, "drain")])}), None)
    assert ack == {"engine": "lab1", "revision": 42, "http_port": 80, "https_port": 443, "error": None,
                   "servers": {"hello/c00000000001": "ready", "hello/c00000000002": "drain"}}
    json.dumps(ack)


def test_edge_section_defaults_and_bad_values():
    assert EDGE["http_port"] == 80 and EDGE["certs_dir"] == "/etc/haproxy/paasops-certs"
    with pytest.raises(reg.ConfigError, match="edge.http_port"):
        reg.validate_edge({"http_port": "80"})
    with pytest.raises(reg.ConfigError, match="must differ"):
        reg.validate_edge({"http_port": 8080, "https_port": 8080})
    with pytest.raises(reg.ConfigError, match="unknown field"):
        reg.validate_edge({"htp_port": 80})


def test_a_tcp_port_taken_by_the_edge_or_another_route_is_left_out_and_named():
    routes = {"a": reg.parse_route("a", tcp([backend(1)], port=80)),
              "b": reg.parse_route("b", tcp([backend(2)], port=15432)),
              "c": reg.parse_route("c", tcp([backend(3)], port=15432)),
              "hello": reg.parse_route("hello", http([backend(4)]))}
    kept, errors = reg.port_conflicts(routes, EDGE)
    assert sorted(kept) == ["b", "hello"]
    assert errors == ["/paasops/routes/a: tcp_port 80 is already the edge's http_port",
                      "/paasops/routes/c: tcp_port 15432 is already the tcp_port of b"]
