"""The app.yml schema: parsing, clear errors, the spec hash, labels and docker run kwargs."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from .errors import SpecError
from .expose import Expose
from .health_check import HealthCheck, docker_healthcheck, format_duration, parse_duration_ms
from .placement import labels as label_expr
from .update_policy import UpdatePolicy
from .vocabulary import (
    DEFAULT_PIDS_LIMIT,
    LABEL_APP,
    LABEL_DEPLOYMENT,
    LABEL_PREFIX,
    LABEL_SECRETS,
    LABEL_SPEC_HASH,
    MAX_APP_YML_BYTES,
    MAX_MEMORY_MB,
    PRIVILEGED_PORTS_BELOW,
    REDACTED,
    RESERVED_HOST_PORTS,
)

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$")
PORT_RE = re.compile(r"^(?:(\d+):)?(\d+)(?:/([a-z]+))?$")
MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$", re.IGNORECASE)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\s]")  # no image reference holds one
MEMORY_UNITS_MB = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}
MIN_MEMORY_MB = 6  # Docker refuses a smaller memory limit
RESERVED_LABEL_PREFIX = LABEL_PREFIX
DEFAULT_RESCHEDULE_AFTER = "30s"
MAX_RESCHEDULE_AFTER_MS = 24 * 3600 * 1000

# Like docker-py's RUN_CREATE_KWARGS/RUN_HOST_CONFIG_KWARGS: nothing else reaches the engine.
DOCKER_RUN_KWARGS = frozenset(
    {"image", "name", "command", "environment", "ports", "nano_cpus", "mem_limit", "labels", "restart_policy",
     "detach", "init", "security_opt", "pids_limit", "healthcheck"}
)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("spec", message)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _scalar_dict(what: str, key_re: re.Pattern, key_hint: str):
    """A mapping of names to scalars; numbers and booleans become strings, as YAML users expect."""

    def check(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _fail(f"must be a mapping of {what}, got {_type_name(value)}")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key_re.match(key):
                raise _fail(f"{_show(key)} is not a valid {what[:-1]} name ({key_hint})")
            if isinstance(item, (dict, list)) or item is None:
                raise _fail(f"{key}: must be a string, number or boolean, got {_type_name(item)}")
            if isinstance(item, str) and "\x00" in item:
                raise _fail(f"{key}: must not contain a NUL character")
            out[key] = ("true" if item else "false") if isinstance(item, bool) else str(item)
        return out

    return check


def _command(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        if "\x00" in (value if isinstance(value, str) else "".join(value or [])):
            raise _fail("must not contain a NUL character")
        return value
    raise _fail(f"must be a string or a list of strings, got {_show(value)}")


def _memory_mb(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail(f"must be a size like '256m' or '1g' or a number of megabytes, got {_show(value)}")
    if isinstance(value, str):
        m = MEMORY_RE.match(value.strip())
        if not m:
            raise _fail(f"must be a size like '256m' or '1g' or a number of megabytes, got {_show(value)}")
        mb = float(m.group(1)) * MEMORY_UNITS_MB[m.group(2).lower()]
    else:
        mb = float(value)
    if not math.isfinite(mb) or mb > MAX_MEMORY_MB:  # 1e999 is inf: math.ceil would overflow
        raise _fail(f"must be at most {MAX_MEMORY_MB}m, got {_show(value)}")
    if mb < MIN_MEMORY_MB:
        raise _fail(f"must be at least {MIN_MEMORY_MB}m (Docker's minimum), got {_show(value)}")
    return math.ceil(mb)


def _port(value: Any) -> Any:
    if isinstance(value, bool):
        raise _fail(f"must be 'HOST:CONTAINER[/PROTOCOL]' or a mapping, got {_show(value)}")
    if isinstance(value, int):
        return {"container": value}
    if isinstance(value, str):
        m = PORT_RE.match(value.strip())
        if not m:
            raise _fail(f"must be 'HOST:CONTAINER[/PROTOCOL]' like '8080:80/tcp', got {_show(value)}")
        host, container, protocol = m.groups()
        return {"host": int(host or 0), "container": int(container), "protocol": protocol or "tcp"}
    return value


@dataclass(frozen=True)
class Constraint:
    """`key==value`, `key!=value`, `key` (label present) or `!key` (label absent).

    The grammar and the matching are placement's (`paasops.placement.labels`); this is the spec's view.
    """

    key: str
    op: str  # == | != | exists | absent
    value: str | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        return label_expr.violation(label_expr.parse(str(self)), labels) is None

    def __str__(self) -> str:
        return {"exists": self.key, "absent": f"!{self.key}"}.get(self.op) or f"{self.key}{self.op}{self.value}"


def parse_constraint(text: str) -> Constraint:
    """One constraint, parsed by placement's grammar; ValueError with the spec's message if bad."""
    try:
        if not isinstance(text, str):  # checked here: the parser caches on its (hashable) argument
            raise SpecError("not a string")
        parsed = label_expr.parse(text)
    except SpecError:
        raise ValueError(f"must look like 'zone==a', 'disk!=ssd', 'gpu' or '!gpu', got {_show(text)}") from None
    return Constraint(parsed.key, "exists" if parsed.op == "present" else parsed.op, parsed.value)


def _constraint(value: Any) -> str:
    try:
        return str(parse_constraint(value))
    except ValueError as exc:
        raise _fail(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PortSpec(_Strict):
    host: int = Field(0, ge=0, le=65535, strict=True)  # 0 = an ephemeral port the engine picks
    container: int = Field(ge=1, le=65535, strict=True)
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"

    def __str__(self) -> str:
        return f"{self.host}:{self.container}/{self.protocol}"


def _restart(value: Any) -> Any:
    # YAML 1.1 reads a bare `no` as false.
    if value is False:
        return {"policy": "no"}
    if isinstance(value, dict) and value.get("policy") is False:
        return {**value, "policy": "no"}
    if isinstance(value, str):
        policy, _, retries = value.partition(":")
        if retries and not retries.isdigit():
            raise _fail(f"must be 'on-failure:N' with N a number, got {_show(value)}")
        return {"policy": policy, **({"max_retries": int(retries)} if retries else {})}
    return value


class RestartPolicy(_Strict):
    policy: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    max_retries: int = Field(0, ge=0, strict=True)

    @field_validator("max_retries")
    @classmethod
    def _only_on_failure(cls, value: int, info) -> int:
        if value and info.data.get("policy") != "on-failure":
            raise _fail("only applies to the 'on-failure' policy")
        return value


class AppSpec(_Strict):
    name: str = Field(strict=True)
    image: str = Field(strict=True, min_length=1)
    command: Annotated[str | list[str] | None, BeforeValidator(_command)] = None
    env: Annotated[dict[str, str], BeforeValidator(_scalar_dict("variables", ENV_KEY_RE, "letters, digits, _"))] = {}
    # Environment variables whose values are secret: stored encrypted, given to the engine only at create,
    # shown nowhere (REDACTED). Never in `stored()` (the store seals them apart) nor in a repr.
    secrets: Annotated[
        dict[str, str], BeforeValidator(_scalar_dict("secrets", ENV_KEY_RE, "letters, digits, _"))
    ] = Field(default_factory=dict, repr=False)
    ports: list[Annotated[PortSpec, BeforeValidator(_port)]] = []
    cpus: float = Field(1.0, gt=0, le=1024, strict=True)
    memory_mb: Annotated[int, BeforeValidator(_memory_mb)] = Field(256, alias="memory")
    labels: Annotated[
        dict[str, str], BeforeValidator(_scalar_dict("labels", LABEL_KEY_RE, "letters, digits, '.', '-', '_', '/'"))
    ] = {}
    constraints: list[Annotated[str, BeforeValidator(_constraint)]] = []
    restart: Annotated[RestartPolicy, BeforeValidator(_restart)] = RestartPolicy()
    count: int = Field(1, ge=0, strict=True)
    pids_limit: int | None = Field(None, ge=1, strict=True)  # lowers the service's pids limit, never raises it
    strategy: Literal["thesis", "spread", "binpack"] = "thesis"
    health: HealthCheck | None = None
    expose: Expose | None = None  # reached through the edges (no release field: only its published port is)
    update: UpdatePolicy = UpdatePolicy()  # how a new release replaces this one's replicas (no release field)
    # how long a replica's host may be suspect or down before the replica is started elsewhere (self-healing)
    reschedule_after: str = DEFAULT_RESCHEDULE_AFTER
    _secrets_digest: str = PrivateAttr("")  # the vault's keyed digest of `secrets` (spec_hash takes it)
    _release: str = PrivateAttr("")  # the release hash its app record names, if not `spec_hash` (`as_release`)

    @model_validator(mode="after")
    def _secret_not_env(self) -> AppSpec:
        both = sorted(self.secrets.keys() & self.env.keys())
        if both:
            raise _fail(f"secrets: {', '.join(both)} also in env: a variable is either secret or not")
        return self

    @model_validator(mode="after")
    def _health_has_port(self) -> AppSpec:
        if self.health and self.health.http is not None and not self.health.port and not self.probe_ports:
            raise _fail("health.http: needs a port to probe: give health.port, a tcp entry in ports or expose.port")
        return self

    @property
    def probe_ports(self) -> list[int]:
        """The ports an http health check may probe by default: the tcp ports, then an exposed one."""
        return self.tcp_ports + self.auto_published

    @property
    def auto_published(self) -> list[int]:
        """Container ports published (on an ephemeral host port) only because `expose` needs them."""
        return [self.expose.port] if self.expose and self.expose.port not in self.tcp_ports else []

    @field_validator("reschedule_after", mode="before")
    @classmethod
    def _reschedule_after(cls, value: Any) -> str:
        try:
            ms = parse_duration_ms(value)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        if ms > MAX_RESCHEDULE_AFTER_MS:
            raise _fail(f"must be at most {format_duration(MAX_RESCHEDULE_AFTER_MS)}, got {_show(value)}")
        return format_duration(ms) if ms else "0s"

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise _fail(f"must be lower-case letters, digits and '-', 1-63 long, got {_show(value)}")
        return value

    @field_validator("image")
    @classmethod
    def _printable(cls, value: str) -> str:
        if CONTROL_RE.search(value):
            raise _fail(f"must not contain spaces or control characters, got {_show(value)}")
        return value

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.startswith(RESERVED_LABEL_PREFIX):
                raise _fail(f"{key!r} is reserved: paasops sets the '{RESERVED_LABEL_PREFIX}*' labels itself")
        return value

    @field_validator("ports")
    @classmethod
    def _no_duplicate_host_ports(cls, value: list[PortSpec]) -> list[PortSpec]:
        seen = set()
        for port in value:
            if port.host and (port.host, port.protocol) in seen:
                raise _fail(f"host port {port.host}/{port.protocol} is listed twice")
            seen.add((port.host, port.protocol))
        return value

    @property
    def memory(self) -> int:
        return self.memory_mb

    @property
    def tcp_ports(self) -> list[int]:
        """The container's tcp ports, in spec order (an http health check probes the first by default)."""
        return [p.container for p in self.ports if p.protocol == "tcp"]

    @property
    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(parse_constraint(c) for c in self.constraints)

    @property
    def argv(self) -> list[str] | None:
        """The command as Docker runs it (docker-py splits a string command the same way)."""
        return shlex.split(self.command) if isinstance(self.command, str) else self.command

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, as the client sends it; `parse_app_spec` reads it back."""
        return self.model_dump(mode="json", by_alias=True)

    def stored(self) -> dict[str, Any]:
        """The spec as the store keeps it and the API shows it: without its secrets (the vault seals those)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"secrets"})

    @property
    def secrets_digest(self) -> str:
        return self._secrets_digest

    def with_secrets(self, secrets: Mapping[str, str], digest: str) -> AppSpec:
        """This spec with `secrets` (values, as the vault opened them) and their keyed digest."""
        spec = self.model_copy(update={"secrets": dict(secrets)})
        spec._secrets_digest = digest if secrets else ""
        return spec

    @property
    def release(self) -> str:
        """The release hash its replicas carry: its app record's (`as_release`), else `spec_hash`."""
        return self._release or spec_hash(self)

    def as_release(self, release: str) -> AppSpec:
        """This spec under the release hash an app record names: a record written by an older hash rule
        keeps its hash, so its new replicas join its running ones instead of looking outdated."""
        spec = self.model_copy()
        spec._release = release
        return spec


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a field given twice (PyYAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"field {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_NESTED: dict[str, type[BaseModel]] = {"ports": PortSpec, "restart": RestartPolicy, "health": HealthCheck,
                                       "update": UpdatePolicy, "expose": Expose}
_MESSAGES = {
    "missing": "is required",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "greater_than": "must be > {gt}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "int_type": "must be an integer, got {input}",
    "int_parsing": "must be an integer, got {input}",
    "int_from_float": "must be an integer, got {input}",
    "float_type": "must be a number, got {input}",
    "float_parsing": "must be a number, got {input}",
    "string_type": "must be a string, got {input}",
    "string_too_short": "must not be empty",
    "literal_error": "must be one of {expected}, got {input}",
    "list_type": "must be a list, got {input}",
    "model_type": "must be a mapping, got {input}",
    "dict_type": "must be a mapping, got {input}",
}


def _field_names(loc: tuple) -> list[str]:
    model = _NESTED.get(loc[0]) if loc else None
    model = model or AppSpec
    return [f.alias or name for name, f in model.model_fields.items()]


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        field = loc[-1]
        close = difflib.get_close_matches(str(field), _field_names(loc[:-1]), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parent = _where(loc[:-1])
        return (f"{parent}: " if parent else "") + f"unknown field {str(field)!r}{hint}"
    template = _MESSAGES.get(error["type"])
    if template:
        ctx = {k: _number(v) for k, v in (error.get("ctx") or {}).items()}
        message = template.format(**ctx, input=_show(error.get("input")))
    else:
        message = error["msg"]
    path = _where(loc)
    return f"{path}: {message}" if path else message


def parse_app_spec(data: Any, source: str = "app.yml", overrides: Mapping[str, Any] | None = None) -> AppSpec:
    """Validate plain data (a parsed app.yml or an API payload); SpecError names source and field."""
    if data is None:
        raise SpecError("is empty: an app needs at least 'name' and 'image'", where=source)
    if not isinstance(data, dict):
        raise SpecError(f"must be a mapping of fields, got {_type_name(data)}", where=source)
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return AppSpec.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems = [_describe(e) for e in errors]
        # SpecError (paasops/errors.py) declares no `problems` attribute: set it through an Any.
        err: Any = SpecError("; ".join(problems), where=source)
        err.problems = problems
        raise err from None


def load_app_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> AppSpec:
    """Read and validate an app.yml; `overrides` (e.g. from `--count`) win over the file."""
    source = str(path)
    try:
        with open(path, "rb") as file:  # the size is checked before anything is parsed
            raw = file.read(MAX_APP_YML_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", where=source) from None
    text = decode_app_yml(raw, source)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        column = f" (column {mark.column + 1})" if mark else ""
        kind = "" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error: "
        raise SpecError(f"{kind}{exc.problem or exc.context}{column}", where=where) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML syntax error: {exc}", where=source) from None
    return parse_app_spec(data, source, overrides)


def decode_app_yml(raw: bytes, source: str = "app.yml") -> str:
    """An app.yml's text: at most MAX_APP_YML_BYTES of UTF-8, else a SpecError naming the problem."""
    if len(raw) > MAX_APP_YML_BYTES:
        raise SpecError(f"is larger than {MAX_APP_YML_BYTES // 1024} KiB: an app.yml is a short file", where=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})", where=source) from None


def forbidden_host_ports(spec: AppSpec, api_port: int | None = None) -> list[PortSpec]:
    """The spec's host ports a `user` may not publish: below 1024, or one paasops itself uses (the API's
    is `api_port` when the service listens on another than the default)."""
    reserved = RESERVED_HOST_PORTS | ({api_port} if api_port else set())
    return [p for p in spec.ports if p.host and (p.host < PRIVILEGED_PORTS_BELOW or p.host in reserved)]


# Fields that are not part of a release: how many replicas run is a scale, not a new release; how a
# release replaces the one before (`update`) and how long a lost host is waited for shape no container, nor
# does where the edges route to it (`expose`; the port it publishes for that is: `auto_published`).
NOT_RELEASE_FIELDS = frozenset({"count", "name", "update", "reschedule_after", "expose"})  # name: the app itself
HASH_VERSION = 2  # 1: image, command, memory, cpus and secrets only (`legacy_spec_hash`)


def release_identity(spec: AppSpec) -> dict[str, Any]:
    """Every field that shapes a replica or its placement, normalised (a command string and its argv
    are one command; constraints are a set), with the keyed digest of the secrets in their place."""
    identity = spec.model_dump(mode="json", exclude=set(NOT_RELEASE_FIELDS) | {"secrets"})
    identity.update(command=spec.argv, cpus=float(spec.cpus), constraints=sorted(spec.constraints),
                    hash_version=HASH_VERSION)
    if spec.auto_published:  # only then: the hash of every spec without it stays what it was
        identity["auto_published"] = spec.auto_published
    if spec.secrets:
        if not spec.secrets_digest:
            raise ValueError(f"app {spec.name}: the spec hash of secrets needs their digest (AppSpec.with_secrets)")
        identity["secrets"] = spec.secrets_digest
    return identity


def _digest(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def spec_hash(spec: AppSpec) -> str:
    """Identity of a release: every field but `NOT_RELEASE_FIELDS` (`release_identity`); identical replicas share it:
    any other change (env, ports, labels, health, a rotated secret...) makes a new release.

    A spec with secrets needs the vault's keyed digest of them (`with_secrets`): a plain hash of a
    short secret could be guessed back from the hash every container carries.
    """
    return _digest(release_identity(spec))


def legacy_spec_hash(spec: AppSpec) -> str:
    """The hash paasops gave a spec before version 2 (image, command, memory, cpus, secrets): an app
    record that holds it is the same release as an identical spec (`spec_diff` empty)."""
    identity: dict[str, Any] = {"image": spec.image, "command": spec.argv, "memory_mb": spec.memory_mb,
                                "cpus": float(spec.cpus)}
    if spec.secrets:
        identity["secrets"] = release_identity(spec)["secrets"]
    return _digest(identity)


def new_deployment_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


def container_labels(spec: AppSpec, deployment_id: str) -> dict[str, str]:
    secret_names = {LABEL_SECRETS: ",".join(sorted(spec.secrets))} if spec.secrets else {}
    return {LABEL_APP: spec.name, LABEL_DEPLOYMENT: deployment_id, LABEL_SPEC_HASH: spec.release, **secret_names}


def redact_env(env: list[str], names: set[str]) -> list[str]:
    """Docker's `Config.Env` ("NAME=value" items) with the values of `names` shown as REDACTED."""
    return [f"{item.partition('=')[0]}={REDACTED}" if item.partition("=")[0] in names else item for item in env]


def redact_inspect(details: dict[str, Any]) -> dict[str, Any]:
    """A `docker inspect` answer with the values of the secrets its labels name shown as REDACTED."""
    config = details.get("Config") or {}
    names = {n for n in ((config.get("Labels") or {}).get(LABEL_SECRETS) or "").split(",") if n}
    if not names or not isinstance(config.get("Env"), list):
        return details
    return {**details, "Config": {**config, "Env": redact_env(config["Env"], names)}}


def docker_ports(spec: AppSpec) -> dict[str, int | None | list[int | None]]:
    """docker-py's `ports` mapping; host port 0 becomes None (the engine picks one), as for an exposed
    port not listed in `ports` (`auto_published`)."""
    ports: dict[str, Any] = {f"{port}/tcp": None for port in spec.auto_published}
    for port in spec.ports:
        key, host = f"{port.container}/{port.protocol}", port.host or None
        if key not in ports:
            ports[key] = host
        else:
            ports[key] = (ports[key] if isinstance(ports[key], list) else [ports[key]]) + [host]
    return ports


def docker_run_kwargs(spec: AppSpec, name: str, labels: Mapping[str, str], *,
                      pids_limit: int = DEFAULT_PIDS_LIMIT) -> dict[str, Any]:
    """Pure translation of a spec into `containers.create/run` kwargs, through an allow-list.

    Every container runs with `no-new-privileges` and at most `pids_limit` processes (the spec may ask fewer).
    """
    kwargs = {
        "image": spec.image,
        "name": name,
        "command": spec.argv,
        "environment": {**spec.env, **spec.secrets},  # secrets reach the engine here, and only here
        "ports": docker_ports(spec),
        "nano_cpus": int(round(spec.cpus * 1_000_000_000)),
        "mem_limit": spec.memory_mb * 1024 * 1024,
        "labels": {**spec.labels, **labels},
        "restart_policy": {"Name": spec.restart.policy, "MaximumRetryCount": spec.restart.max_retries},
        "detach": True,
        "init": True,  # an init as PID 1 reaps zombies and stops the app on SIGTERM (no 10 s kill wait)
        "security_opt": ["no-new-privileges"],  # setuid binaries cannot raise a process's privileges
        "pids_limit": min(spec.pids_limit or pids_limit, pids_limit),  # a fork bomb stays in its container
        "healthcheck": docker_healthcheck(spec.health, spec.probe_ports) if spec.health else None,
    }
    return {k: v for k, v in kwargs.items() if k in DOCKER_RUN_KWARGS and v is not None}


def reschedule_seconds(stored: Mapping[str, Any]) -> float:
    """An app record's `reschedule_after` in seconds (the default for a record written before the field)."""
    try:
        return parse_duration_ms(stored.get("reschedule_after", DEFAULT_RESCHEDULE_AFTER)) / 1000
    except ValueError:  # a record is validated when written: a bad one keeps the default rather than fail
        return parse_duration_ms(DEFAULT_RESCHEDULE_AFTER) / 1000
