"""spec_diff: what changed between two releases of a spec, field by field, never a secret's value."""

from __future__ import annotations

from paasops.spec import parse_app_spec, spec_hash
from paasops.spec_diff import spec_diff

BASE = {"name": "web", "image": "paasops/hello:latest", "command": "httpd -f -p 8080", "env": {"GREETING": "hi"},
        "ports": ["0:8080"], "labels": {"team": "a"}, "count": 2}


def spec(**fields):
    return parse_app_spec({**BASE, **fields})


def brief(changes):
    return [(c.field, c.change, c.old, c.new) for c in changes]


def test_the_same_spec_has_no_change_whatever_its_count_or_spelling():
    assert spec_diff(spec(), spec(count=9, command=["httpd", "-f", "-p", "8080"])) == []


def test_env_and_labels_change_key_by_key():
    changes = spec_diff(spec(), spec(env={"GREETING": "hello", "MODE": "x"}, labels={}))
    assert brief(changes) == [("env.GREETING", "changed", "hi", "hello"), ("env.MODE", "added", None, "x"),
                              ("labels.team", "removed", "a", None)]
    assert spec_hash(spec()) != spec_hash(spec(env={"GREETING": "hello"}))


def test_whole_fields_and_nested_ones():
    changes = spec_diff(spec(), spec(image="paasops/hello:2", ports=["0:9090"], restart="on-failure:3",
                                      health={"http": "/up", "interval": "2s"}))
    assert brief(changes)[:2] == [("image", "changed", "paasops/hello:latest", "paasops/hello:2"),
                                  ("ports", "changed", [{"host": 0, "container": 8080, "protocol": "tcp"}],
                                   [{"host": 0, "container": 9090, "protocol": "tcp"}])]
    fields = [c.field for c in changes]
    assert "restart.policy" in fields and "restart.max_retries" in fields
    assert ("health", "added") in [(c.field, c.change) for c in changes]
    again = spec_diff(spec(health={"http": "/up", "interval": "2s"}), spec(health={"http": "/up", "interval": "3s"}))
    assert brief(again) == [("health.interval", "changed", "2s", "3s")]


def test_secrets_show_as_changed_never_their_values():
    old = spec().with_secrets({"DB": "old-s3cret", "GONE": "g0ne-value"}, "d1")
    new = spec().with_secrets({"DB": "new-s3cret", "API": "n3w-value"}, "d2")
    changes = spec_diff(old, new)
    assert [(c.field, c.change, c.secret) for c in changes] == [
        ("secrets.API", "added", True), ("secrets.DB", "changed", True), ("secrets.GONE", "removed", True)]
    wire = str([c.model_dump(mode="json") for c in changes])
    assert not any(v in wire for v in ("old-s3cret", "new-s3cret", "g0ne-value", "n3w-value"))
    assert spec_diff(old, old) == []
