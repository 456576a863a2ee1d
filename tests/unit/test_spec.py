"""app.yml parsing, its error messages, the spec hash and the docker run kwargs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paasops.errors import SpecError
from paasops.spec import (
    DOCKER_RUN_KWARGS,
    NOT_RELEASE_FIELDS,
    AppSpec,
    Constraint,
    container_labels,
    decode_app_yml,
    docker_run_kwargs,
    forbidden_host_ports,
    legacy_spec_hash,
    load_app_spec,
    parse_app_spec,
    parse_constraint,
    release_identity,
    spec_hash,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "app.yml"
BASE = {"name": "web", "image": "paasops/hello:latest"}


def spec(**fields) -> AppSpec:
    return parse_app_spec({**BASE, **fields})


def error(data, source="app.yml") -> str:
    with pytest.raises(SpecError) as info:
        parse_app_spec(data, source)
    return str(info.value)


# -- valid specs ----------------------------------------------------------------------


def test_minimal_spec_has_defaults():
    s = spec()
    assert (s.name, s.image, s.command, s.env, s.ports) == ("web", "paasops/hello:latest", None, {}, [])
    assert (s.cpus, s.memory_mb, s.count, s.strategy) == (1.0, 256, 1, "thesis")
    assert (s.restart.policy, s.restart.max_retries) == ("no", 0)


def test_example_app_yml():
    s = load_app_spec(EXAMPLE)
    assert s.name == "hello" and s.image == "paasops/hello:latest"
    assert (s.cpus, s.memory_mb, s.count) == (0.5, 128, 8)
    assert [(p.host, p.container, p.protocol) for p in s.ports] == [(0, 8080, "tcp")]


def test_overrides_win_and_none_is_ignored():
    s = load_app_spec(EXAMPLE, {"count": 3, "cpus": None})
    assert (s.count, s.cpus) == (3, 0.5)


@pytest.mark.parametrize(
    "memory, mb",
    [("256m", 256), ("1g", 1024), ("1.5G", 1536), ("512MiB", 512), ("64mb", 64), (128, 128), ("300", 300),
     ("10240k", 10), ("1t", 1024 * 1024)],
)
def test_memory_forms(memory, mb):
    assert spec(memory=memory).memory_mb == mb


def test_port_forms():
    s = spec(ports=["8080:80", "0:53/udp", "9000", 7000, {"container": 81}, {"host": 82, "container": 82, "protocol": "sctp"}])
    assert [(p.host, p.container, p.protocol) for p in s.ports] == [
        (8080, 80, "tcp"), (0, 53, "udp"), (0, 9000, "tcp"), (0, 7000, "tcp"), (0, 81, "tcp"), (82, 82, "sctp")
    ]


def test_command_forms_and_argv():
    assert spec(command="httpd -f -p '8080'").argv == ["httpd", "-f", "-p", "8080"]
    assert spec(command=["sh", "-c", "echo hi"]).argv == ["sh", "-c", "echo hi"]


def test_env_and_label_scalars_become_strings():
    s = spec(env={"PORT": 8080, "DEBUG": True, "RATIO": 0.5}, labels={"tier": "web", "v": 2})
    assert s.env == {"PORT": "8080", "DEBUG": "true", "RATIO": "0.5"}
    assert s.labels == {"tier": "web", "v": "2"}


@pytest.mark.parametrize(
    "restart, policy, retries",
    [("always", "always", 0), ("on-failure:5", "on-failure", 5), (False, "no", 0),
     ({"policy": "unless-stopped"}, "unless-stopped", 0), ({"policy": "on-failure", "max_retries": 2}, "on-failure", 2)],
)
def test_restart_forms(restart, policy, retries):
    s = spec(restart=restart)
    assert (s.restart.policy, s.restart.max_retries) == (policy, retries)


def test_yaml_no_means_restart_no(tmp_path):
    path = tmp_path / "app.yml"
    path.write_text("name: web\nimage: x\nrestart: no\n")
    assert load_app_spec(path).restart.policy == "no"


def test_constraints_parse_and_match():
    s = spec(constraints=["zone=a", "disk != ssd", "gpu", "!spot"])
    assert s.constraints == ["zone==a", "disk!=ssd", "gpu", "!spot"]
    assert s.parsed_constraints == (
        Constraint("zone", "==", "a"), Constraint("disk", "!=", "ssd"), Constraint("gpu", "exists"), Constraint("spot", "absent")
    )
    host = {"zone": "a", "disk": "hdd", "gpu": "1"}
    assert all(c.matches(host) for c in s.parsed_constraints)
    assert not parse_constraint("zone==b").matches(host)
    assert not parse_constraint("disk!=hdd").matches(host)
    assert not parse_constraint("!gpu").matches(host)
    assert parse_constraint("disk!=ssd").matches({})  # a host without the label is not 'ssd'


def test_round_trip_through_plain_data():
    s = load_app_spec(EXAMPLE)
    assert parse_app_spec(s.to_dict()) == s


# -- bad input, each with its exact message -------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"count": -1}, "app.yml: count: must be >= 0, got -1"),
        ({"count": "eight"}, "app.yml: count: must be an integer, got 'eight'"),
        ({"count": 2.5}, "app.yml: count: must be an integer, got 2.5"),
        ({"count": True}, "app.yml: count: must be an integer, got true"),
        ({"imagee": "x"}, "app.yml: unknown field 'imagee' (did you mean 'image'?)"),
        ({"zzz": 1}, "app.yml: unknown field 'zzz'"),
        ({"cpus": 0}, "app.yml: cpus: must be > 0, got 0"),
        ({"cpus": -1.5}, "app.yml: cpus: must be > 0, got -1.5"),
        ({"cpus": "two"}, "app.yml: cpus: must be a number, got 'two'"),
        ({"memory": "12q"}, "app.yml: memory: must be a size like '256m' or '1g' or a number of megabytes, got '12q'"),
        ({"memory": "1k"}, "app.yml: memory: must be at least 6m (Docker's minimum), got '1k'"),
        ({"memory": [1]}, "app.yml: memory: must be a size like '256m' or '1g' or a number of megabytes, got [1]"),
        ({"ports": ["http"]}, "app.yml: ports[0]: must be 'HOST:CONTAINER[/PROTOCOL]' like '8080:80/tcp', got 'http'"),
        ({"ports": ["80:80", "1:99999"]}, "app.yml: ports[1].container: must be <= 65535, got 99999"),
        ({"ports": ["80:80/icmp"]}, "app.yml: ports[0].protocol: must be one of 'tcp', 'udp' or 'sctp', got 'icmp'"),
        ({"ports": [{"hots": 80, "container": 80}]}, "app.yml: ports[0]: unknown field 'hots' (did you mean 'host'?)"),
        ({"ports": [{"host": 80}]}, "app.yml: ports[0].container: is required"),
        ({"ports": ["80:80", "80:81"]}, "app.yml: ports: host port 80/tcp is listed twice"),
        ({"ports": "80:80"}, "app.yml: ports: must be a list, got '80:80'"),
        ({"name": "Web_1"}, "app.yml: name: must be lower-case letters, digits and '-', 1-63 long, got 'Web_1'"),
        ({"name": 5}, "app.yml: name: must be a string, got 5"),
        ({"image": ""}, "app.yml: image: must not be empty"),
        ({"command": 5}, "app.yml: command: must be a string or a list of strings, got 5"),
        ({"env": ["A=1"]}, "app.yml: env: must be a mapping of variables, got a list"),
        ({"env": {"1A": "x"}}, "app.yml: env: '1A' is not a valid variable name (letters, digits, _)"),
        ({"env": {"A": None}}, "app.yml: env: A: must be a string, number or boolean, got nothing"),
        ({"labels": {"paasops.app": "x"}}, "app.yml: labels: 'paasops.app' is reserved: paasops sets the 'paasops.*' labels itself"),
        ({"constraints": ["zone<3"]}, "app.yml: constraints[0]: must look like 'zone==a', 'disk!=ssd', 'gpu' or '!gpu', got 'zone<3'"),
        ({"constraints": ["gpu", "zone=="]}, "app.yml: constraints[1]: must look like 'zone==a', 'disk!=ssd', 'gpu' or '!gpu', got 'zone=='"),
        ({"constraints": ["!zone==a"]}, "app.yml: constraints[0]: must look like 'zone==a', 'disk!=ssd', 'gpu' or '!gpu', got '!zone==a'"),
        ({"restart": "sometimes"}, "app.yml: restart.policy: must be one of 'no', 'on-failure', 'always' or 'unless-stopped', got 'sometimes'"),
        ({"restart": "always:3"}, "app.yml: restart.max_retries: only applies to the 'on-failure' policy"),
        ({"restart": {"policy": "on-failure", "max_retries": -1}}, "app.yml: restart.max_retries: must be >= 0, got -1"),
        ({"strategy": "random"}, "app.yml: strategy: must be one of 'thesis', 'spread' or 'binpack', got 'random'"),
    ],
)
def test_bad_field(fields, message):
    assert error({**BASE, **fields}) == message


def test_missing_fields_and_unknown_first():
    assert error({"imagee": "x", "name": "web"}) == (
        "app.yml: unknown field 'imagee' (did you mean 'image'?); image: is required"
    )


def test_problems_are_listed_separately():
    with pytest.raises(SpecError) as info:
        parse_app_spec({**BASE, "count": -1, "cpus": 0})
    assert info.value.problems == ["cpus: must be > 0, got 0", "count: must be >= 0, got -1"]


@pytest.mark.parametrize(
    "data, message",
    [(None, "api: is empty: an app needs at least 'name' and 'image'"),
     ([1, 2], "api: must be a mapping of fields, got a list"),
     ("web", "api: must be a mapping of fields, got str")],
)
def test_not_a_mapping(data, message):
    assert error(data, source="api") == message


def test_error_is_a_user_input_error():
    with pytest.raises(SpecError) as info:
        parse_app_spec({**BASE, "count": -1})
    assert info.value.exit_code == 2 and info.value.http_status == 400 and info.value.where == "app.yml"


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: web\n  image: x: y\n", "{p}:2: YAML syntax error: mapping values are not allowed here (column 8)"),
        ("name: web\nports: [1,\n", "{p}:3: YAML syntax error: expected the node content, but found '<stream end>' (column 1)"),
        ("name: web\nimage: a\nimage: b\n", "{p}:3: field 'image' is given twice (column 1)"),
        ("name: web\nimage: a\ncount: -1\n", "{p}: count: must be >= 0, got -1"),
        ("", "{p}: is empty: an app needs at least 'name' and 'image'"),
    ],
)
def test_file_errors(tmp_path, text, message):
    path = tmp_path / "app.yml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_app_spec(path)
    assert str(info.value) == message.format(p=path)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.yml: cannot read: No such file or directory"):
        load_app_spec(tmp_path / "nope.yml")


# -- spec hash ------------------------------------------------------------------------


def test_spec_hash_is_stable():
    s = spec(command="httpd -f", cpus=0.5, memory="128m")
    assert spec_hash(s) == spec_hash(spec(command="httpd -f", cpus=0.5, memory="128m"))
    assert len(spec_hash(s)) == 12 and int(spec_hash(s), 16) >= 0
    # Pinned: the hash labels running containers, so it must not drift between releases.
    assert spec_hash(load_app_spec(EXAMPLE)) == "af763257c1a2"
    # The version-1 rule stays, so records written by it are recognised (service.apps.release_change).
    assert legacy_spec_hash(load_app_spec(EXAMPLE)) == "e80696d8e278"


# One changed value per field of the spec: a field added later without an entry here fails
# `test_every_field_is_listed`, so none can escape the release identity unnoticed.
FIELD_CHANGES = {
    "image": "paasops/hello:2",
    "command": "httpd -p 81",
    "env": {"GREETING": "hi"},
    "ports": ["8080:80"],
    "cpus": 0.75,
    "memory_mb": "129m",
    "labels": {"team": "x"},
    "constraints": ["zone==a"],
    "restart": "always",
    "pids_limit": 64,
    "strategy": "spread",
    "health": {"http": "/up", "port": 80},
}
# a scale; the app itself; how a release replaces the last; how it heals; where the edges route it (test_expose.py)
NOT_IN_RELEASE = {"count", "name", "update", "reschedule_after", "expose"}


def test_every_field_is_listed():
    assert set(AppSpec.model_fields) == set(FIELD_CHANGES) | NOT_IN_RELEASE | {"secrets"}
    assert set(NOT_RELEASE_FIELDS) == NOT_IN_RELEASE


@pytest.mark.parametrize("field", sorted(FIELD_CHANGES))
def test_spec_hash_covers_every_field(field):
    base = dict(command="httpd -p 80", cpus=0.5, memory="128m")
    key = AppSpec.model_fields[field].alias or field
    assert spec_hash(spec(**base)) != spec_hash(spec(**{**base, key: FIELD_CHANGES[field]}))


def test_spec_hash_covers_secrets_by_their_digest():
    s = spec(secrets={"DB": "s3cr3t-value"})
    with pytest.raises(ValueError, match="needs their digest"):
        spec_hash(s)
    assert spec_hash(s.with_secrets(s.secrets, "d1")) != spec_hash(s.with_secrets(s.secrets, "d2"))
    assert spec_hash(s.with_secrets(s.secrets, "d1")) != spec_hash(spec())
    assert "s3cr3t-value" not in json.dumps(release_identity(s.with_secrets(s.secrets, "d1")))


@pytest.mark.parametrize(
    "change",
    [{"count": 7}, {"name": "other"}, {"command": ["httpd", "-p", "80"]}, {"memory": "128MiB"}, {"cpus": 1 / 2},
     {"constraints": ["b", "a"]}],
)
def test_spec_hash_ignores_the_count_and_the_spelling(change):
    base = dict(command="httpd -p 80", cpus=0.5, memory="128m", constraints=["a", "b"])
    assert spec_hash(spec(**base)) == spec_hash(spec(**{**base, **change}))


def test_a_release_hash_kept_from_an_older_rule_labels_new_replicas():
    s = spec()
    assert s.release == spec_hash(s) and container_labels(s, "d")["paasops.spec-hash"] == spec_hash(s)
    old = s.as_release("e80696d8e278")
    assert old.release == "e80696d8e278" and container_labels(old, "d")["paasops.spec-hash"] == "e80696d8e278"
    assert s.release == spec_hash(s)  # a copy: the spec itself is unchanged


# -- labels and docker kwargs ---------------------------------------------------------


def test_container_labels():
    s = spec()
    assert container_labels(s, "d1") == {"paasops.app": "web", "paasops.deployment": "d1", "paasops.spec-hash": spec_hash(s)}


def test_docker_run_kwargs():
    s = spec(
        command="httpd -f -p 8080", env={"A": 1}, ports=["0:8080", "9000:9000/udp", "9001:8080"],
        cpus=0.5, memory="128m", labels={"team": "web"}, restart="on-failure:3",
    )
    labels = container_labels(s, "d1")
    assert docker_run_kwargs(s, "web-1", labels) == {
        "image": "paasops/hello:latest",
        "name": "web-1",
        "command": ["httpd", "-f", "-p", "8080"],
        "environment": {"A": "1"},
        "ports": {"8080/tcp": [None, 9001], "9000/udp": 9000},
        "nano_cpus": 500_000_000,
        "mem_limit": 128 * 1024 * 1024,
        "labels": {"team": "web", **labels},
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "detach": True,
        "init": True,
        "security_opt": ["no-new-privileges"],
        "pids_limit": 512,
    }


def test_docker_run_kwargs_without_command_and_allow_list():
    kwargs = docker_run_kwargs(spec(), "web-1", {})
    assert "command" not in kwargs
    assert set(kwargs) <= DOCKER_RUN_KWARGS
    assert kwargs["restart_policy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert kwargs["ports"] == {}


# -- limits and hostile input -------------------------------------------------------------


def test_containers_get_no_new_privileges_and_a_pids_limit():
    kwargs = docker_run_kwargs(spec(), "web-1", {})
    assert kwargs["security_opt"] == ["no-new-privileges"] and kwargs["pids_limit"] == 512
    assert docker_run_kwargs(spec(), "web-1", {}, pids_limit=100)["pids_limit"] == 100  # the service's setting
    assert docker_run_kwargs(spec(pids_limit=64), "web-1", {})["pids_limit"] == 64  # an app.yml may lower it
    assert docker_run_kwargs(spec(pids_limit=4096), "web-1", {}, pids_limit=100)["pids_limit"] == 100  # not raise
    assert "pids_limit: must be >= 1, got 0" in error({**BASE, "pids_limit": 0})


@pytest.mark.parametrize("memory", [1e999, "9" * 400 + "t", 2.0 ** 70, float("nan")])
def test_an_absurd_memory_is_a_clear_error_not_an_overflow(memory):
    assert "memory: must be at most" in error({**BASE, "memory": memory})


def test_count_refuses_a_boolean():
    assert "count: must be an integer, got true" in error({**BASE, "count": True})


@pytest.mark.parametrize("image", ["hello\x00world", "hello\nworld", "hello world", "\x7fhello", "a\tb"])
def test_an_image_with_control_characters_is_refused(image):
    assert "image: must not contain spaces or control characters" in error({**BASE, "image": image})


@pytest.mark.parametrize("field, value, where", [
    ("env", {"A": "x\x00y"}, "env: A: must not contain a NUL character"),
    ("labels", {"team": "\x00"}, "labels: team: must not contain a NUL character"),
    ("command", "sh\x00", "command: must not contain a NUL character"),
    ("command", ["sh", "-c\x00"], "command: must not contain a NUL character"),
])
def test_nul_characters_are_refused(field, value, where):
    assert where in error({**BASE, field: value})


def test_decode_app_yml():
    assert decode_app_yml("name: wéb\n".encode()) == "name: wéb\n"
    with pytest.raises(SpecError, match=r"app.yml: is not UTF-8 text \(byte 6 is 0xff\)"):
        decode_app_yml(b"name: \xff\xfe")
    with pytest.raises(SpecError, match="is larger than 1024 KiB"):
        decode_app_yml(b"#" * (1024 * 1024 + 1))


def test_load_app_spec_refuses_binary_and_oversized_files(tmp_path):
    binary = tmp_path / "app.yml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(SpecError, match="is not UTF-8 text"):
        load_app_spec(binary)
    big = tmp_path / "big.yml"
    big.write_bytes(b"name: web\nimage: x\n" + b"# padding\n" * 200_000)
    with pytest.raises(SpecError, match="is larger than"):
        load_app_spec(big)


def test_forbidden_host_ports():
    s = spec(ports=["22:22", "80:8080", "1023:80", "1024:80", "2376:80", "2379:80", "5002:80", "8080:80", "0:81"])
    assert [p.host for p in forbidden_host_ports(s)] == [22, 80, 1023, 2376, 2379, 5002]
    assert forbidden_host_ports(spec(ports=["8080:80"])) == []
    assert [p.host for p in forbidden_host_ports(spec(ports=["8443:80", "5002:81"]), api_port=8443)] == [8443, 5002]
