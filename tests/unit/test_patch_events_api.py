"""POST /api/events (what `paasops patch` records its steps through) over a real SQLite store: admins only, and only
the patch-* types, so no client can pass an event off as the service's own; a refused one stores nothing."""

from __future__ import annotations

import pytest
from test_api_schema import api  # noqa: F401  (the API over a real SQLite store, as an admin)

from paasops.vocabulary import CLIENT_EVENT_TYPES


@pytest.fixture(scope="module")
def bob(api):  # noqa: F811
    """A token of `bob`, an account of the default `user` role (which may read /api/events)."""
    added = api.post("/api/accounts", json={"name": "bob", "password": "bob-Pw-0123456789", "role": "user"})
    assert added.status_code == 201, added.text
    return api.post("/api/login", json={"username": "bob", "password": "bob-Pw-0123456789"}).json()["token"]


def test_an_admin_records_a_patch_step_and_it_is_listed_with_who_did_it(api):  # noqa: F811
    client = api
    answer = client.post("/api/events", json={"type": "patch-drain", "host": "lab1", "message": "lab1 is empty",
                                              "data": {"moved": 3, "ok": True}})
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert (event["type"], event["host"], event["user"], event["tag"]) == ("patch-drain", "lab1", "admin", "cli")
    listed = client.get("/api/events", params={"type": "patch-drain"}).json()
    assert [(e["id"], e["data"]) for e in listed] == [(event["id"], {"moved": 3, "ok": True})]


def test_a_user_may_not_record_events_though_its_role_may_read_them(api, bob):  # noqa: F811
    client = api
    answer = client.post("/api/events", json={"type": "patch-done"}, headers={"Authorization": f"Bearer {bob}"})
    assert answer.status_code == 403 and "only admins record events" in answer.json()["error"]
    assert client.get("/api/events", params={"type": "patch-done"}).json() == []


@pytest.mark.parametrize("body", [{"type": "host-down", "host": "lab2"}, {"type": "drain-host"},
                                  {"type": "patch-drain", "extra": 1}, {"type": ""}])
def test_only_the_patch_types_are_taken_and_a_refused_event_is_not_stored(api, body):  # noqa: F811
    client = api
    answer = client.post("/api/events", json=body)
    assert answer.status_code in (400, 422), answer.text
    if body["type"] in ("host-down", "drain-host"):
        assert "may not record" in answer.json()["error"] and CLIENT_EVENT_TYPES[0] in answer.json()["error"]
        assert client.get("/api/events", params={"type": body["type"]}).json() == []
