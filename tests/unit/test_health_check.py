"""The app.yml health check: validation, durations, the Docker HEALTHCHECK it becomes, and health as listed."""

from __future__ import annotations

import pytest

from paasops.errors import SpecError
from paasops.health_check import (
    docker_healthcheck,
    format_duration,
    health_from_status,
    is_ready,
    parse_duration_ms,
    probe_text,
)
from paasops.spec import docker_run_kwargs, parse_app_spec

BASE = {"name": "web", "image": "paasops/hello:latest", "ports": ["0:8080"]}


def spec(**health):
    return parse_app_spec({**BASE, "health": health})


def error(health, **more) -> str:
    with pytest.raises(SpecError) as info:
        parse_app_spec({**BASE, **more, "health": health})
    return str(info.value)


@pytest.mark.parametrize("text, ms", [("2s", 2000), ("500ms", 500), ("1m", 60_000), ("1.5s", 1500), (3, 3000),
                                      (0.25, 250), ("1h", 3_600_000)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms
    assert parse_duration_ms(format_duration(ms)) == ms


@pytest.mark.parametrize("bad", ["2", "2 days", "-1s", True, None, [1], "s"])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="duration like '2s'"):
        parse_duration_ms(bad)


def test_defaults_and_normalised_durations_read_back_the_same():
    s = spec(http="/up", interval="2000ms", timeout=1, start_period="1m")
    assert (s.health.interval, s.health.timeout, s.health.retries, s.health.start_period) == ("2s", "1s", 3, "1m")
    assert parse_app_spec(s.stored()) == s  # the store's copy parses back to the same spec


@pytest.mark.parametrize("health, message", [
    ({}, "app.yml: health: needs exactly one of 'http', 'tcp' or 'cmd'"),
    ({"http": "/up", "tcp": 8080}, "needs exactly one of 'http', 'tcp' or 'cmd', got http and tcp"),
    ({"http": "up"}, "health.http: must be a URL path like '/up'"),
    ({"tcp": 0}, "health.tcp: must be >= 1, got 0"),
    ({"tcp": 70000}, "health.tcp: must be <= 65535"),
    ({"cmd": ""}, "health.cmd: must be a non-empty string"),
    ({"cmd": []}, "health.cmd: must be a non-empty string"),
    ({"http": "/up", "interval": "2 sec"}, "health.interval: must be a duration like '2s' or '500ms', got '2 sec'"),
    ({"http": "/up", "interval": "10ms"}, "health.interval: must be between 100ms and 1h, got '10ms'"),
    ({"http": "/up", "timeout": "11m"}, "health.timeout: must be between 100ms and 10m"),
    ({"http": "/up", "retries": 0}, "health.retries: must be >= 1, got 0"),
    ({"http": "/up", "retries": "3"}, "health.retries: must be an integer"),
    ({"http": "/up", "intervall": "2s"}, "health: unknown field 'intervall' (did you mean 'interval'?)"),
    ({"tcp": 8080, "port": 80}, "'port' goes with 'http' only"),
    ("/up", "health: must be a mapping"),
])
def test_bad_health_checks_name_the_field(health, message):
    assert message in error(health)


def test_an_http_check_needs_a_port():
    assert "health.http: needs a port to probe" in error({"http": "/up"}, ports=[])
    assert parse_app_spec({**BASE, "ports": [], "health": {"http": "/up", "port": 9000}}).health.port == 9000


def test_http_becomes_busybox_wget_on_the_first_tcp_port():
    check = spec(http="/up", interval="2s", timeout="1s", retries=5, start_period="500ms").health
    assert docker_healthcheck(check, [8080, 9090]) == {
        "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/up"],
        "interval": 2_000_000_000, "timeout": 1_000_000_000, "retries": 5, "start_period": 500_000_000}
    assert docker_healthcheck(spec(http="/a?b=1", port=9090).health, [8080])["test"][-1] == \
        "http://127.0.0.1:9090/a?b=1"


def test_tcp_and_cmd():
    assert docker_healthcheck(spec(tcp=8080).health, [])["test"] == ["CMD", "nc", "-z", "-w", "5", "127.0.0.1", "8080"]
    assert docker_healthcheck(spec(cmd="test -f /tmp/ok").health, [])["test"] == ["CMD-SHELL", "test -f /tmp/ok"]
    assert docker_healthcheck(spec(cmd=["cat", "/tmp/ok"]).health, [])["test"] == ["CMD", "cat", "/tmp/ok"]


def test_the_container_gets_the_healthcheck_and_none_without_one():
    s = spec(http="/up")
    assert docker_run_kwargs(s, "web-1", {})["healthcheck"]["test"][-1] == "http://127.0.0.1:8080/up"
    assert "healthcheck" not in docker_run_kwargs(parse_app_spec(BASE), "web-1", {})


@pytest.mark.parametrize("status, health", [
    ("Up 5 seconds (healthy)", "healthy"), ("Up 2 minutes (unhealthy)", "unhealthy"),
    ("Up 1 second (health: starting)", "starting"), ("Up 3 hours", "none"), ("Exited (1) 2 seconds ago", "none"),
    ("", "none")])
def test_health_from_the_listed_status(status, health):
    assert health_from_status(status) == health


def test_ready_is_running_and_healthy_or_without_a_check():
    assert is_ready("running", "healthy") and is_ready("running", "none")
    assert not is_ready("running", "starting") and not is_ready("running", "unhealthy")
    assert not is_ready("exited", "none")


def test_probe_text():
    assert [probe_text(h) for h in (None, {"http": "/up"}, {"tcp": 80}, {"cmd": ["x"]})] == \
        [None, "http /up", "tcp 80", "cmd"]
