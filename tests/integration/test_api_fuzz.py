"""Property-based: every route and method of `/openapi.json`, fed generated input as admin and as a plain
user over a real service (SQLite state, this machine's Docker as engine), never answers 5xx."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import docker
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paasops.api.app import create_app
from paasops.lab.hello_image import ensure_hello_image
from paasops.pki import ensure_ca, ensure_client_cert
from paasops.service.service import Service
from paasops.service.settings import ServiceSettings
from paasops.vocabulary import LABEL_APP

ADMIN_PW = "admin-Pw-" + uuid.uuid4().hex
USER_PW = "user-Pw-" + uuid.uuid4().hex
APP = f"fuzz-{uuid.uuid4().hex[:6]}"
HELLO = "paasops/hello:latest"
# Images the generated specs may name: present, absent behind a registry on loopback (a pull is refused at
# once, nothing leaves this machine), or not a reference at all. Never free text: Docker would pull it.
IMAGES = [HELLO, "127.0.0.1:1/fuzz/absent:1", "Not A Reference", "a\x00b", "", "x" * 300]
# Addresses a generated engine may have: this machine only (a heartbeat or a TLS dial goes nowhere else).
ADDRESSES = ["127.0.0.1", "localhost", "127.0.0.2", "local", "::1", "", "127.0.0.1:99999", "é" * 70]
# per route, method and role: derandomized, so every run sends the same requests (more: PAASOPS_FUZZ_EXAMPLES)
EXAMPLES = int(os.environ.get("PAASOPS_FUZZ_EXAMPLES", "25"))
SKIP = {("get", "/api/events/stream")}  # endless by design (its bounds are another test's)
SEEN: dict[tuple[str, str], set[int]] = {}  # (method, path) -> the statuses the fuzz got
KEEP = {"admin", "fuzzer"}  # accounts the run logs in with: generated names leave them be

weird_text = st.text(max_size=40) | st.sampled_from(["", " ", "..", "../etc", "%00", "a" * 300, "9" * 5000,
                                                     "-1", "1e999", "NaN", "true", "null", "\udcff"])
scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | weird_text)
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(weird_text, inner, max_size=4), max_leaves=12)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)
bad_auth = st.none() | st.none() | st.none() | st.one_of(
    st.builds(lambda v: {"Authorization": v.encode("latin-1")}, st.sampled_from(["Bearer", "Bearer ", "Basic YTpi", "Bearer admin:",
                                                               "Bearer :", "Bearer admin:" + "0" * 5000, "bearer x"])
              | header_text),
    st.builds(lambda v: {"X-Access-Token": v.encode("latin-1")}, st.sampled_from(["admin:", ":", "admin:x", "fuzzer:" + "ff" * 32,
                                                                "ghost:" + "00" * 32]) | header_text))
small_counts = st.integers(min_value=-3, max_value=3) | st.sampled_from([None, True, 1.5, "2", 10**30, -(10**30)])


def spec_values() -> dict[str, st.SearchStrategy]:
    """A generated value for each app.yml field: often sound, often not."""
    port = st.fixed_dictionaries({"container": st.integers(-1, 70000) | weird_text},
                                 optional={"host": st.integers(-1, 70000) | weird_text,
                                           "protocol": st.sampled_from(["tcp", "udp", "sctp", "x"])})
    return {
        "name": st.sampled_from([APP, f"{APP}-b", "UPPER", "", "a" * 80]) | weird_text,
        "image": st.sampled_from(IMAGES),
        "command": st.sampled_from([["httpd", "-f", "-p", "8080", "-h", "/www"], "sleep 600", "'"]) | any_json,
        "env": st.dictionaries(weird_text, scalars, max_size=3) | any_json,
        "ports": st.lists(port | st.sampled_from(["8080", "80:8080", "x:y", "70000:1"]) | any_json, max_size=2),
        "cpus": st.sampled_from([0.01, 0.05]) | st.floats() | st.integers(-5, 10**30) | weird_text,
        "memory": st.sampled_from(["8m", "16m", "1e999", "1e999m", "-1", "0", "99999999999999999t"]) | scalars,
        "labels": st.dictionaries(weird_text, scalars, max_size=3) | any_json,
        "constraints": st.lists(st.sampled_from(["zone==a", "cpus>=1", "==", "x!=", "a>b>c"]) | weird_text,
                                max_size=3) | any_json,
        "restart": st.sampled_from(["no", "always", "on-failure:3", "on-failure:x", False]) | any_json,
        "count": small_counts,
        "pids_limit": st.integers(-1, 10**20) | scalars,
        "strategy": st.sampled_from(["thesis", "spread", "binpack", "other"]),
    }


SOUND = {  # values a deploy takes (some then refused by the ACL or placement: a user's port 80, no zone)
    "name": st.sampled_from([APP, f"{APP}-b"]),
    "image": st.sampled_from([HELLO, HELLO, IMAGES[1]]),
    "command": st.just(["httpd", "-f", "-p", "8080", "-h", "/www"]),
    "cpus": st.sampled_from([0.01, 0.02]),
    "memory": st.sampled_from(["8m", "12m"]),
    "env": st.dictionaries(st.sampled_from(["A", "B_2"]), st.text(max_size=5), max_size=2),
    "ports": st.sampled_from([[], [{"container": 8080}], ["80:8080"]]),
    "labels": st.sampled_from([{}, {"team": "x"}]),
    "constraints": st.sampled_from([[], ["zone==nowhere"]]),
    "restart": st.sampled_from(["no", "always"]),
    "count": st.integers(0, 2),
    "pids_limit": st.integers(1, 100),
    "strategy": st.sampled_from(["thesis", "spread", "binpack"]),
}
REQUIRED = ("name", "image", "command", "cpus", "memory")


def app_specs() -> st.SearchStrategy:
    """Sound specs, sound specs with one field gone bad, and anything at all."""
    junk = spec_values()
    optional = {k: v for k, v in SOUND.items() if k not in REQUIRED}

    def one_bad(key: str) -> st.SearchStrategy:
        return st.fixed_dictionaries({**{k: SOUND[k] for k in REQUIRED}, key: junk[key]},
                                     optional={k: v for k, v in optional.items() if k != key})

    return (st.fixed_dictionaries({k: SOUND[k] for k in REQUIRED}, optional=optional)
            | st.sampled_from(sorted(junk)).flatmap(one_bad) | st.fixed_dictionaries({}, optional=junk) | any_json)


def from_schema(schema: dict, components: dict, depth: int = 0) -> st.SearchStrategy:
    """Values that match an OpenAPI schema, mixed with values that do not."""
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[1]], components, depth)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of([from_schema(s, components, depth) for s in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | scalars
    kind = schema.get("type")
    if kind == "object" and "properties" in schema and depth < 3:
        props = schema["properties"]
        fields = {k: field_values(k, v, components, depth) for k, v in props.items()}
        required = {k: fields[k] for k in schema.get("required", [])}
        optional = {k: s for k, s in fields.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional) | st.fixed_dictionaries({}, optional=fields)
    if kind == "integer":
        return small_counts | st.integers() | scalars
    if kind == "number":
        return st.floats() | scalars
    if kind == "boolean":
        return st.booleans() | scalars
    if kind == "string":
        return weird_text | scalars
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=3) | any_json
    return any_json


def field_values(name: str, schema: dict, components: dict, depth: int) -> st.SearchStrategy:
    if name == "spec":
        return app_specs()
    if name == "address":
        return st.sampled_from(ADDRESSES)
    if name == "count":
        return st.integers(0, 2) | small_counts
    if name in ("name", "username"):
        return weird_text.filter(lambda s: s not in KEEP)
    return from_schema(schema, components, depth + 1)


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, item in sorted(spec["paths"].items())
            for method, op in sorted(item.items()) if (method, path) not in SKIP]


class Caller:
    """One account's session over the in-process API; logs in again when a request ended it."""

    def __init__(self, client: TestClient, name: str, password: str):
        self.client, self.name, self.password = client, name, password
        self.headers: dict[str, str] = {}
        self.login()

    def login(self) -> None:
        answer = self.client.post("/api/login", json={"username": self.name, "password": self.password})
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    engine = docker.from_env()
    ensure_hello_image(engine)
    started = time.time()
    state = tmp_path_factory.mktemp("fuzz")
    ensure_client_cert(state / "pki", ensure_ca(state / "pki"))
    service = Service(ServiceSettings(state=f"sqlite:///{state / 'state.db'}", pki_dir=state / "pki",
                                      local_engine=True, admin_password=ADMIN_PW, login_lock_after=0,
                                      login_free_failures=10**6, login_address_free_failures=10**6))
    service.start()
    deadline = time.monotonic() + 30
    while not any(h.healthy for h in service.cluster.snapshot()):
        assert time.monotonic() < deadline, "the local engine did not come up"
        time.sleep(0.2)
    yield service
    service.stop()
    # whatever the generated deploys started on this machine goes: paasops' containers made since
    for c in engine.containers.list(all=True, filters={"label": LABEL_APP}):
        created = c.attrs.get("Created", "")
        if c.labels.get(LABEL_APP, "").startswith(APP) or _after(created, started):
            c.remove(force=True)
    engine.close()


def _after(created: str, started: float) -> bool:
    from datetime import datetime
    try:
        return datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00").timestamp() >= started
    except ValueError:
        return False


@pytest.fixture(scope="module")
def api(service):
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        admin = Caller(client, "admin", ADMIN_PW)
        made = client.post("/api/accounts", headers=admin.headers,
                           json={"name": "fuzzer", "password": USER_PW, "role": "user"})
        assert made.status_code == 201, made.text
        user = Caller(client, "fuzzer", USER_PW)
        spec = {"name": APP, "image": HELLO, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                "cpus": 0.01, "memory": "8m"}
        deployed = client.post("/api/containers", headers=admin.headers, json={"spec": spec, "count": 1})
        assert deployed.status_code == 200, deployed.text
        replica = deployed.json()["replicas"][0]
        known = [APP, replica["id"], replica["id"][:12], replica["name"], "local", "admin", "fuzzer", "nowhere"]
        yield client, {"admin": admin, "user": user}, client.get("/openapi.json").json(), known


def test_openapi_lists_the_routes_the_fuzz_walks(api):
    _, _, spec, _ = api
    walked = operations(spec)
    assert len(walked) >= 25 and ("post", "/api/containers", ) in {(m, p) for m, p, _ in walked}


def _cases():
    from paasops.api.app import create_app as make
    from paasops.service.settings import ServiceSettings as Settings

    class _Stub:  # the routes only: the schema is built without a service running
        settings = Settings(state="sqlite:///:memory:")
        authenticator = None
    spec = make(_Stub()).openapi()
    return [(method, path) for method, path, _ in operations(spec)]


@pytest.mark.parametrize("role", ["admin", "user"])
@pytest.mark.parametrize(("method", "path"), _cases(), ids=lambda v: v)
def test_no_route_answers_5xx(api, role, method, path):
    client, callers, spec, known = api
    op = spec["paths"][path][method]
    components = spec.get("components", {}).get("schemas", {})
    caller = callers[role]
    params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    destructive = method != "get"

    def path_value(name: str) -> st.SearchStrategy:
        pool = [k for k in known if not (destructive and k in KEEP | {"local"})]
        return st.sampled_from(pool) | weird_text.filter(lambda s: s not in KEEP | {"local"} and "/" not in s
                                                         and s not in ("", ".", ".."))

    query = {p["name"]: (st.just(False) if p["name"] == "follow" else from_schema(p.get("schema", {}), components))
             for p in params if p["in"] == "query"}
    paths = {p["name"]: path_value(p["name"]) for p in params if p["in"] == "path"}
    body_schema = (((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema")
    body = from_schema(body_schema, components) if body_schema else st.none()
    if (method, path) == ("post", "/api/containers"):  # half the deploys sound: they run, then the rest
        sound = st.fixed_dictionaries({k: SOUND[k] for k in REQUIRED})
        body = st.fixed_dictionaries({"spec": sound}, optional={"count": SOUND["count"], "dry_run": st.booleans()}) | body
    raw = st.sampled_from([b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"a": 1e999}', b"9" * 5000])

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.fixed_dictionaries(paths), st.fixed_dictionaries({}, optional=query), body, raw, st.integers(0, 9),
           bad_auth)
    def check(path_args, query_args, json_body, raw_body, mode, auth):
        url = path.format(**{k: _quote(v) for k, v in path_args.items()})
        args = {k: _param(v) for k, v in query_args.items() if v is not None}
        if args:  # encoded here: a lone surrogate goes as the bytes Python writes for it
            url += "?" + urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in args.items()})
            args = {}
        headers = caller.headers if auth is None else auth  # now and then a forged or broken credential
        if body_schema:  # JSON as Python writes it: NaN, Infinity and lone surrogates (escaped) included
            content = raw_body if mode == 0 else json.dumps(json_body).encode()
            answer = client.request(method.upper(), url, params=args, content=content,
                                    headers={**headers, "Content-Type": "application/json"})
        else:
            answer = client.request(method.upper(), url, params=args, headers=headers)
        SEEN.setdefault((method, path), set()).add(answer.status_code)
        assert answer.status_code < 500, f"{method.upper()} {url} {args} {json_body!r}: {answer.status_code} " \
                                         f"{answer.text[:500]}"
        if answer.status_code >= 400 and "json" in answer.headers.get("content-type", ""):
            assert answer.json().get("error") or answer.json().get("detail"), answer.text
        if auth is None and (path == "/api/logout" or answer.status_code == 401):
            caller.login()

    check()


def _quote(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _param(value: Any) -> str:
    """A query parameter as a client would send it (JSON for anything not a plain string)."""
    return value if isinstance(value, str) else json.dumps(value)



def test_the_fuzz_got_past_validation():
    """Not only 4xx: the generated input reached the service (deploys ran, lookups found things)."""
    assert SEEN, "run with the tests above"
    deploys = SEEN[("post", "/api/containers")]
    assert {200, 400} <= deploys, deploys
    missed = {route: got for route, got in SEEN.items() if not any(s < 300 for s in got)}
    print("routes with no 2xx:", missed)
    # routes that take the name of something existing (an engine, a container, an account) rarely get one
    # from random input; the lookups and listings must, and at least a third of all routes
    for route in (("get", "/api/apps"), ("get", "/api/containers"), ("get", "/api/engines"), ("get", "/api/events")):
        assert route not in missed, (route, SEEN.get(route))
    assert len(SEEN) - len(missed) >= len(SEEN) // 3, missed
