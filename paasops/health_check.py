"""An app's health check (app.yml `health:`): its schema, durations, and the Docker HEALTHCHECK it becomes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .vocabulary import HEALTH_HEALTHY, HEALTH_NONE, HEALTH_STARTING, HEALTH_UNHEALTHY

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$")
DURATION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
# (least, most) milliseconds of each duration; Docker needs >= 1 ms, a probe faster than 100 ms is a load.
BOUNDS_MS = {"interval": (100, 3_600_000), "timeout": (100, 600_000), "start_period": (0, 3_600_000)}
MAX_RETRIES = 100
PROBE_HOST = "127.0.0.1"  # the probe runs inside the container: the app listens there
# The health Docker's list shows in a container's Status ("Up 3 seconds (health: starting)").
STATUS_HEALTH = {"(healthy)": HEALTH_HEALTHY, "(unhealthy)": HEALTH_UNHEALTHY, "(health: starting)": HEALTH_STARTING}


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("spec", message)


def parse_duration_ms(value: Any) -> int:
    """`2s`, `500ms`, `1m`, `1h`, or a number of seconds, as whole milliseconds; ValueError if not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a duration like '2s' or '500ms', got {value!r}")
    if isinstance(value, str):
        m = DURATION_RE.match(value.strip())
        if not m:
            raise ValueError(f"must be a duration like '2s' or '500ms', got {value!r}")
        ms = float(m.group(1)) * DURATION_UNITS_MS[m.group(2)]
    else:
        ms = float(value) * 1000
    if ms != ms or ms < 0 or ms > 1e12:  # NaN, negative or absurd
        raise ValueError(f"must be a duration like '2s' or '500ms', got {value!r}")
    return round(ms)


def format_duration(ms: int) -> str:
    """Milliseconds as the shortest exact duration text (`2s`, `1500ms`, `1m`)."""
    for unit in ("h", "m", "s"):
        if ms and ms % DURATION_UNITS_MS[unit] == 0:
            return f"{ms // DURATION_UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def bounded_duration(value: Any, least: int, most: int) -> str:
    """`value` as normalised duration text (`2s`), if between `least` and `most` ms; else a spec error saying so."""
    try:
        ms = parse_duration_ms(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if not least <= ms <= most:
        raise _fail(f"must be between {format_duration(least) if least else '0s'} and "
                    f"{format_duration(most)}, got {value!r}")
    return format_duration(ms) if ms else "0s"


def _duration(field: str):
    least, most = BOUNDS_MS[field]
    return lambda value: bounded_duration(value, least, most)


class HealthCheck(BaseModel):
    """Exactly one probe (`http` path, `tcp` port or `cmd`) and how often Docker runs it.

    Durations are kept as normalised text (`2s`, `500ms`) so the stored spec reads back the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    http: str | None = Field(None, strict=True)
    port: int | None = Field(None, ge=1, le=65535, strict=True)  # http's port; default: the first tcp port
    tcp: int | None = Field(None, ge=1, le=65535, strict=True)
    cmd: str | list[str] | None = None
    interval: str = "10s"
    timeout: str = "5s"
    retries: int = Field(3, ge=1, le=MAX_RETRIES, strict=True)
    start_period: str = "0s"

    @field_validator("interval", "timeout", "start_period", mode="before")
    @classmethod
    def _durations(cls, value: Any, info) -> str:
        return _duration(info.field_name)(value)

    @field_validator("http")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or re.search(r"[\x00-\x20\x7f]", value)):
            raise _fail(f"must be a URL path like '/up' (no spaces), got {value!r}")
        return value

    @field_validator("cmd", mode="before")
    @classmethod
    def _cmd(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.strip() and "\x00" not in value:
            return value
        if (isinstance(value, list) and value and all(isinstance(v, str) and "\x00" not in v for v in value)
                and value[0]):
            return value
        raise _fail(f"must be a non-empty string (run by the shell) or list of strings, got {value!r}")

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheck:
        given = [k for k in ("http", "tcp", "cmd") if getattr(self, k) is not None]
        if len(given) != 1:
            raise _fail("needs exactly one of 'http', 'tcp' or 'cmd'" + (f", got {' and '.join(given)}" if given
                                                                          else ""))
        if self.port is not None and self.http is None:
            raise _fail("'port' goes with 'http' only")
        return self

    def ms(self, field: str) -> int:
        return parse_duration_ms(getattr(self, field))


def probe_port(check: HealthCheck, container_ports: list[int]) -> int | None:
    """The port an http check probes: its own, else the app's first tcp container port."""
    return check.port or (container_ports[0] if container_ports else None)


def docker_healthcheck(check: HealthCheck, container_ports: list[int]) -> dict[str, Any]:
    """docker-py's `healthcheck` for `check` (nanoseconds); the engine runs the probe in the container.

    http uses busybox's `wget` (non-zero on an HTTP error; no `-T`: a static busybox's wget crashes
    with it, and the engine's own timeout kills a hung probe), tcp `nc -z`, cmd is run as given
    (a string through the shell, a list as is).
    """
    timeout_s = max(1, check.ms("timeout") // 1000)
    if check.http is not None:
        port = probe_port(check, container_ports)
        if port is None:
            raise ValueError("health.http: needs a port: give health.port or a tcp entry in ports")
        test = ["CMD", "wget", "-q", "-O", "/dev/null", f"http://{PROBE_HOST}:{port}{check.http}"]
    elif check.tcp is not None:
        test = ["CMD", "nc", "-z", "-w", str(timeout_s), PROBE_HOST, str(check.tcp)]
    elif isinstance(check.cmd, str):
        test = ["CMD-SHELL", check.cmd]
    else:
        test = ["CMD", *(check.cmd or [])]
    return {"test": test, "interval": check.ms("interval") * 1_000_000, "timeout": check.ms("timeout") * 1_000_000,
            "retries": check.retries, "start_period": check.ms("start_period") * 1_000_000}


def health_from_status(status: str) -> str:
    """A container's health from the Status Docker lists (`Up 5 seconds (healthy)`); none when it has
    no check (or is not running: Docker shows the health of running containers only)."""
    for suffix, health in STATUS_HEALTH.items():
        if status.endswith(suffix):
            return health
    return HEALTH_NONE


def is_ready(state: str, health: str) -> bool:
    """A replica serves: running and healthy, or running with no health check."""
    return state == "running" and health in (HEALTH_HEALTHY, HEALTH_NONE)


def probe_text(check: dict[str, Any] | None) -> str | None:
    """A stored health check's probe in a few words (`http /up`, `tcp 8080`, `cmd`); None without one."""
    if not check:
        return None
    for kind in ("http", "tcp"):
        if check.get(kind) is not None:
            return f"{kind} {check[kind]}"
    return "cmd"
