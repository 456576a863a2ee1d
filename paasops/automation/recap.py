"""What a run produces: task results, the per-host recap, and the progress events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]


@dataclass(frozen=True)
class TaskResult:
    """One task on one host. In check mode "changed" means "would change"."""

    host: str
    task: str
    status: Status
    message: str = ""
    diff: str = ""
    duration: float = 0.0
    play: str = ""
    module: str = ""
    ignored: bool = False  # failed, but the task has ignore_errors
    check: bool = False
    handler: bool = False


@dataclass
class HostRecap:
    """Ansible's PLAY RECAP line for one host."""

    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    ignored: int = 0

    def add(self, result: TaskResult) -> None:
        if result.ignored:
            self.ignored += 1
        elif result.status == "changed":
            self.ok += 1  # as in Ansible, a changed task also counts as ok
            self.changed += 1
        else:
            setattr(self, result.status, getattr(self, result.status) + 1)


@dataclass
class RunReport:
    """All results of a run, the recap per host and which hosts failed (or were unreachable)."""

    playbook: str
    check: bool = False
    results: list[TaskResult] = field(default_factory=list)
    recap: dict[str, HostRecap] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)  # host → error message
    failures: dict[str, str] = field(default_factory=dict)  # host → "task: message"

    @property
    def failed_hosts(self) -> list[str]:
        return [h for h in self.recap if h in self.failures or h in self.unreachable]

    @property
    def ok(self) -> bool:
        return not self.failed_hosts

    def for_host(self, host: str) -> list[TaskResult]:
        return [r for r in self.results if r.host == host]


# --- progress events (sent to the on_event callback, one at a time, from worker threads) ------

@dataclass(frozen=True)
class PlayStarted:
    play: str
    hosts: tuple[str, ...]
    check: bool = False


@dataclass(frozen=True)
class TaskStarted:
    host: str
    play: str
    task: str
    handler: bool = False


@dataclass(frozen=True)
class TaskFinished:
    result: TaskResult


@dataclass(frozen=True)
class HostUnreachable:
    host: str
    message: str


@dataclass(frozen=True)
class HostFinished:
    """A host has no more tasks in this play (done, failed or unreachable)."""

    host: str
    play: str
    recap: HostRecap


@dataclass(frozen=True)
class RunFinished:
    report: RunReport


Event = PlayStarted | TaskStarted | TaskFinished | HostUnreachable | HostFinished | RunFinished
