"""App secrets in the spec (stored apart, hashed by digest, given to the engine) and shown nowhere: redaction."""

from __future__ import annotations

import pytest

from paasops.errors import SpecError
from paasops.service.event_log import EventLog, scrub
from paasops.spec import docker_run_kwargs, parse_app_spec, redact_env, redact_inspect, spec_hash
from paasops.vocabulary import LABEL_SECRETS, REDACTED

SPEC = {"name": "web", "image": "hello", "env": {"MODE": "prod"}, "secrets": {"DB_PASSWORD": "hunter2-hunter2"}}


def test_secrets_are_env_names_with_values_and_not_also_env():
    spec = parse_app_spec(SPEC)
    assert spec.secrets == {"DB_PASSWORD": "hunter2-hunter2"}
    assert "hunter2" not in repr(spec)
    with pytest.raises(SpecError, match="DB_PASSWORD also in env"):
        parse_app_spec({**SPEC, "env": {"DB_PASSWORD": "x"}})
    with pytest.raises(SpecError, match="not a valid secret name"):
        parse_app_spec({**SPEC, "secrets": {"1BAD": "x"}})
    with pytest.raises(SpecError, match="must be a mapping of secrets"):
        parse_app_spec({**SPEC, "secrets": ["DB_PASSWORD"]})


def test_the_stored_spec_has_no_secrets_but_the_wire_form_does():
    spec = parse_app_spec(SPEC)
    assert "secrets" not in spec.stored() and "hunter2" not in str(spec.stored())
    assert parse_app_spec(spec.to_dict()).secrets == spec.secrets


def test_the_spec_hash_takes_the_digest_of_the_secrets_never_their_values():
    spec = parse_app_spec(SPEC)
    with pytest.raises(ValueError, match="digest"):
        spec_hash(spec)
    one = spec.with_secrets(spec.secrets, "digest-1")
    assert spec_hash(one) == spec_hash(spec.with_secrets(spec.secrets, "digest-1"))
    assert spec_hash(one) != spec_hash(spec.with_secrets(spec.secrets, "digest-2"))  # a rotated secret: new release
    plain = parse_app_spec({"name": "web", "image": "hello", "env": {"MODE": "prod"}})
    assert spec_hash(plain) != spec_hash(one)
    assert spec_hash(plain) == spec_hash(plain.with_secrets({}, "ignored"))  # no secrets: the hash of before


def test_secrets_reach_the_engine_as_environment_and_their_names_as_a_label():
    from paasops.spec import container_labels

    spec = parse_app_spec(SPEC).with_secrets({"DB_PASSWORD": "hunter2-hunter2"}, "d")
    kwargs = docker_run_kwargs(spec, "web-1", container_labels(spec, "dep"))
    assert kwargs["environment"] == {"MODE": "prod", "DB_PASSWORD": "hunter2-hunter2"}
    assert kwargs["labels"][LABEL_SECRETS] == "DB_PASSWORD"
    assert "hunter2" not in str(kwargs["labels"])


def test_inspect_shows_secret_values_redacted():
    details = {"Id": "abc", "Config": {"Env": ["MODE=prod", "DB_PASSWORD=hunter2=x", "PATH=/bin"],
                                       "Labels": {LABEL_SECRETS: "DB_PASSWORD,API_KEY"}}}
    shown = redact_inspect(details)
    assert shown["Config"]["Env"] == ["MODE=prod", f"DB_PASSWORD={REDACTED}", "PATH=/bin"]
    assert details["Config"]["Env"][1] == "DB_PASSWORD=hunter2=x"  # the engine's answer is not changed
    plain = {"Id": "abc", "Config": {"Env": ["A=1"], "Labels": {}}}
    assert redact_inspect(plain) == plain and redact_inspect({"Id": "x"}) == {"Id": "x"}
    assert redact_env(["A=1", "B"], {"B"}) == ["A=1", f"B={REDACTED}"]


def test_events_never_carry_a_secret_value_the_service_handled():
    assert scrub({"m": ["x hunter2-hunter2 y"], "n": 3}, ["hunter2-hunter2"]) == {"m": [f"x {REDACTED} y"], "n": 3}

    class Store:
        added: list = []

        def add_event(self, event):
            self.added.append(event)
            return event

    log = EventLog(Store())  # type: ignore[arg-type]
    log.hide(["hunter2-hunter2", "abc"])  # too short to search for: left alone
    event = log.record("run-container", message="failed: env DB_PASSWORD=hunter2-hunter2 abc",
                       data={"error": "hunter2-hunter2"})
    assert event.message == f"failed: env DB_PASSWORD={REDACTED} abc" and event.data == {"error": REDACTED}
