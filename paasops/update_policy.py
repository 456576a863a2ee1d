"""How a new release replaces a running one (app.yml `update:`): batches, order, monitor, what a failure does."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .health_check import HealthCheck, bounded_duration, parse_duration_ms

START_FIRST: Final = "start-first"
STOP_FIRST: Final = "stop-first"
ROLLBACK: Final = "rollback"
PAUSE: Final = "pause"
# (least, most) milliseconds of each duration.
BOUNDS_MS = {"monitor": (0, 3_600_000), "ready_timeout": (1_000, 3_600_000)}
NO_HEALTH_READY_S = 30.0  # a replica with no health check is ready once running: this only bounds a restart loop
READY_SLACK_S = 10.0  # beyond the probes' own time: the engine's scheduling of the first probe, a slow start


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("spec", message)


class UpdatePolicy(BaseModel):
    """A rolling update: `parallelism` replicas at a time, each batch ready (and watched for `monitor`)
    before the replicas it replaces are gone (`start-first`) or after they went (`stop-first`).

    Ready capacity never drops below `count - max_unavailable`: stop-first takes a whole batch down at
    once, so it needs `max_unavailable >= parallelism` (its default). Not part of a release (its hash).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallelism: int = Field(1, ge=1, le=1000, strict=True)
    order: Literal["start-first", "stop-first"] = START_FIRST
    max_unavailable: int | None = Field(None, ge=0, strict=True)  # None: 0 (start-first), parallelism (stop-first)
    monitor: str = "5s"  # as Swarm's: long enough to catch a crash on start
    failure_action: Literal["rollback", "pause"] = ROLLBACK
    max_failure_ratio: float = Field(0.0, ge=0.0, le=1.0)
    ready_timeout: str | None = None  # None: from the health check (`ready_seconds`)

    @field_validator("monitor", "ready_timeout", mode="before")
    @classmethod
    def _durations(cls, value: Any, info) -> str | None:
        if value is None and info.field_name == "ready_timeout":
            return None
        return bounded_duration(value, *BOUNDS_MS[info.field_name])

    @field_validator("max_failure_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"must be a number between 0 and 1 (the share of replicas that may fail), got {value!r}")
        return value

    @model_validator(mode="after")
    def _capacity(self) -> UpdatePolicy:
        if self.order == STOP_FIRST and self.max_unavailable is not None and self.max_unavailable < self.parallelism:
            raise _fail(f"max_unavailable: stop-first takes {self.parallelism} replica(s) down per batch "
                        f"(parallelism), so it needs max_unavailable >= {self.parallelism}, got "
                        f"{self.max_unavailable} (or use order: start-first)")
        return self

    @property
    def unavailable(self) -> int:
        """How many ready replicas the update may take away at once."""
        if self.max_unavailable is not None:
            return self.max_unavailable
        return self.parallelism if self.order == STOP_FIRST else 0

    @property
    def monitor_s(self) -> float:
        return parse_duration_ms(self.monitor) / 1000

    def ready_seconds(self, health: HealthCheck | None) -> float:
        """How long a new replica may take to become ready: `ready_timeout`, else long enough for its
        health check to pass (start period, then every retry with its interval and timeout) and some slack."""
        if self.ready_timeout is not None:
            return parse_duration_ms(self.ready_timeout) / 1000
        if health is None:
            return NO_HEALTH_READY_S
        probes = (health.ms("interval") + health.ms("timeout")) * (health.retries + 1)
        return (health.ms("start_period") + probes) / 1000 + READY_SLACK_S
