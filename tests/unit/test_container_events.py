"""Docker container events as data: their action, container and the form the store keeps (pure)."""

from __future__ import annotations

import pytest

from paasops.service.container_events import (
    REFRESH,
    STORED,
    event_action,
    event_container,
    normalise,
)

DIE = {"Type": "container", "Action": "die", "time": 1700000000, "timeNano": 1700000000123456789,
       "Actor": {"ID": "abc123", "Attributes": {"name": "web-1", "image": "hello", "exitCode": "137",
                                                  "paasops.app": "web", "other": "x"}}}


def test_normalise_a_die_event():
    assert normalise("e1", DIE) == {
        "type": "die", "tag": "docker", "host": "e1", "container": "abc123", "app": "web",
        "data": {"image": "hello", "exitCode": "137"}, "message": "web-1 die",
        "time": pytest.approx(1700000000.123456789),
    }


def test_normalise_an_old_style_event_without_an_app_or_time():
    old = {"status": "start", "id": "def456"}
    assert normalise("e2", old, now=42.0) == {
        "type": "start", "tag": "docker", "host": "e2", "container": "def456", "app": None, "data": {},
        "message": "start", "time": 42.0}
    assert normalise("e2", {**old, "time": 7})["time"] == 7.0


@pytest.mark.parametrize("raw, action", [
    ({"Action": "health_status: healthy"}, "health_status"),
    ({"Action": "exec_start: sh -c true"}, "exec_start"),
    ({"status": "stop"}, "stop"),
    ({}, ""),
])
def test_event_action_drops_the_detail(raw, action):
    assert event_action(raw) == action


def test_event_container():
    assert event_container(DIE) == "abc123"
    assert event_container({"id": "x"}) == "x"
    assert event_container({"Actor": {}}) is None


def test_what_refreshes_and_what_is_stored():
    assert "health_status" in REFRESH and "destroy" not in REFRESH  # a destroyed one is dropped, not re-read
    assert STORED == REFRESH | {"destroy"} and "exec_start" not in STORED
