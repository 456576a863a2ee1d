"""app.yml `expose:`: validation with clear messages, the auto-published port, and what is a new release."""

from __future__ import annotations

import pytest

from paasops.errors import SpecError
from paasops.expose import Expose, check_hostname, parse_expose, urls
from paasops.spec import docker_ports, docker_run_kwargs, parse_app_spec, spec_hash

BASE = {"name": "hello", "image": "paasops/hello:latest"}


def spec(**fields):
    return parse_app_spec({**BASE, **fields})


def error(expose) -> str:
    with pytest.raises(SpecError) as caught:
        spec(expose=expose)
    return str(caught.value)


def test_http_expose_is_lower_cased_with_defaults():
    s = spec(expose={"port": 8080, "hostnames": ["Hello.Example.TEST", "www.example.test."]})
    assert s.expose == Expose(port=8080, hostnames=["hello.example.test", "www.example.test"], path="/",
                              https_redirect=False, tcp=None)
    assert s.expose.mode == "http"


def test_tcp_expose():
    s = spec(expose={"port": 5432, "tcp": 15432})
    assert (s.expose.mode, s.expose.tcp, s.expose.hostnames) == ("tcp", 15432, None)


@pytest.mark.parametrize("expose, message", [
    ({"port": 8080}, "app.yml: expose: needs exactly one of 'hostnames' (HTTP) or 'tcp'"),
    ({"port": 8080, "hostnames": ["a.test"], "tcp": 9000}, "expose: needs exactly one of 'hostnames' (HTTP) or "
                                                           "'tcp' (plain TCP on the edges), got both"),
    ({"port": 8080, "tcp": 443}, "expose.tcp: port 443 is taken on the edges"),
    ({"port": 8080, "tcp": 2379}, "expose.tcp: port 2379 is taken on the edges"),
    ({"port": 8080, "tcp": 70000}, "expose.tcp: must be <= 65535, got 70000"),
    ({"port": 0, "tcp": 9000}, "expose.port: must be >= 1, got 0"),
    ({"port": "80", "tcp": 9000}, "expose.port: must be an integer, got '80'"),
    ({"port": True, "tcp": 9000}, "expose.port: must be an integer, got true"),
    ({"tcp": 9000}, "expose.port: is required"),
    ({"port": 80, "hostnames": ["a.test", "A.test"]}, "expose.hostnames: 'a.test' is listed twice"),
    ({"port": 80, "hostnames": ["under_score.test"]}, "expose.hostnames: must be a DNS name"),
    ({"port": 80, "hostnames": ["-a.test"]}, "expose.hostnames: must be a DNS name"),
    ({"port": 80, "hostnames": ["10.0.0.1"]}, "expose.hostnames: must be a DNS name, not an address"),
    ({"port": 80, "hostnames": []}, "expose.hostnames: must be a non-empty list of DNS names"),
    ({"port": 80, "hostnames": [7]}, "expose.hostnames: must be a DNS name"),
    ({"port": 80, "hostnames": ["a.test"], "path": "api"}, "expose.path: must be a URL path prefix"),
    ({"port": 80, "hostnames": ["a.test"], "path": "/a b"}, "expose.path: must be a URL path prefix"),
    ({"port": 80, "hostnames": ["a.test"], "path": "//x"}, "expose.path: must be a URL path prefix"),
    ({"port": 80, "tcp": 9000, "path": "/x"}, "expose: 'path' is for 'hostnames' (HTTP) only, not 'tcp'"),
    ({"port": 80, "tcp": 9000, "https_redirect": True}, "'https_redirect' is for 'hostnames' (HTTP) only"),
    ({"port": 80, "tcp": 9000, "https_redirect": True, "path": "/x"}, "'https_redirect' and 'path' are for"),
    ({"port": 80, "hostnames": ["a.test"], "https_redirect": "yes"}, "expose.https_redirect:"),
    ({"port": 80, "hostnames": ["a.test"], "paht": "/"}, "expose: unknown field 'paht' (did you mean 'path'?)"),
    ("web", "expose: must be a mapping, got 'web'"),
])
def test_bad_expose_names_the_field(expose, message):
    assert message in error(expose)


def test_check_hostname():
    assert check_hostname(" Shop.Example.COM ") == "shop.example.com"
    assert check_hostname("localhost") == "localhost"
    for bad in ("", "a..b", "a" * 64 + ".test", ".".join(["abcdefgh"] * 30), "x.y-"):
        with pytest.raises(ValueError):
            check_hostname(bad)


def test_an_exposed_port_not_in_ports_is_published_on_an_ephemeral_port():
    s = spec(expose={"port": 8080, "hostnames": ["a.test"]})
    assert s.auto_published == [8080]
    assert docker_ports(s) == {"8080/tcp": None}
    assert docker_run_kwargs(s, "hello-1", {})["ports"] == {"8080/tcp": None}
    listed = spec(ports=["9000:8080"], expose={"port": 8080, "hostnames": ["a.test"]})
    assert listed.auto_published == [] and docker_ports(listed) == {"8080/tcp": 9000}
    udp_only = spec(ports=["8080/udp"], expose={"port": 8080, "tcp": 9000})
    assert docker_ports(udp_only) == {"8080/tcp": None, "8080/udp": None}


def test_where_an_app_is_routed_is_no_release_but_its_published_ports_are():
    plain = spec(ports=["0:8080"])
    routed = spec(ports=["0:8080"], expose={"port": 8080, "hostnames": ["a.test"]})
    moved = spec(ports=["0:8080"], expose={"port": 8080, "hostnames": ["b.test"], "path": "/v2"})
    tcp = spec(ports=["0:8080"], expose={"port": 8080, "tcp": 9000})
    assert spec_hash(plain) == spec_hash(routed) == spec_hash(moved) == spec_hash(tcp)
    # a port published only for `expose` changes what every replica publishes: a new release
    auto = spec(expose={"port": 8080, "hostnames": ["a.test"]})
    assert spec_hash(auto) != spec_hash(spec())
    assert spec_hash(auto) == spec_hash(spec(expose={"port": 8080, "tcp": 9000}))
    assert spec_hash(auto) != spec_hash(spec(expose={"port": 8081, "tcp": 9000}))
    assert spec_hash(spec()) == spec_hash(parse_app_spec({**BASE, "expose": None}))


@pytest.mark.parametrize("expose", [{"port": 8080, "hostnames": ["a.test"], "https_redirect": True},
                                    {"port": 5432, "tcp": 15432}])
def test_expose_survives_the_store_and_wire_round_trips(expose):
    s = spec(expose=expose)
    for data in (s.stored(), s.to_dict()):  # every field, defaults included
        again = parse_app_spec(data)
        assert again.expose == s.expose and spec_hash(again) == spec_hash(s)
    assert parse_expose(s.stored()["expose"]) == s.expose and parse_expose(None) is None
    with pytest.raises(ValueError, match="expose"):
        parse_expose({"port": 1})


def test_urls():
    http = Expose(port=80, hostnames=["a.test", "b.test"], path="/api")
    assert urls(http, ["10.0.0.1"]) == ["http://a.test/api", "http://b.test/api"]
    assert urls(http, [], https_hosts=frozenset({"b.test"})) == ["http://a.test/api", "http://b.test/api",
                                                                   "https://b.test/api"]
    assert urls(Expose(port=5432, tcp=15432), ["10.0.0.1", "10.0.0.2"]) == ["tcp://10.0.0.1:15432",
                                                                            "tcp://10.0.0.2:15432"]


def test_an_http_health_check_probes_the_exposed_port_by_default():
    s = spec(expose={"port": 8080, "hostnames": ["a.test"]}, health={"http": "/up"})
    assert docker_run_kwargs(s, "hello-1", {})["healthcheck"]["test"][-1] == "http://127.0.0.1:8080/up"
    listed = spec(ports=["0:9000"], expose={"port": 8080, "hostnames": ["a.test"]}, health={"http": "/up"})
    assert docker_run_kwargs(listed, "hello-1", {})["healthcheck"]["test"][-1] == "http://127.0.0.1:9000/up"
    with pytest.raises(SpecError, match="give health.port, a tcp entry in ports or expose.port"):
        spec(health={"http": "/up"})
