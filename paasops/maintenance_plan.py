"""Rolling host maintenance (`paasops patch`), the pure part: host order and batches, the stop rule, when a
host counts as healthy again, the report and the --check plan. `paasops/maintenance.py` does the I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from .errors import UserInputError
from .results import Result, WhatIfPlan
from .vocabulary import (
    PATCH_DRAIN_EVENT,
    PATCH_PLAY_EVENT,
    PATCH_UNDRAIN_EVENT,
    PATCH_WAIT_EVENT,
    UP,
)

Step = Literal["drain", "play", "wait", "undrain"]
STEPS: tuple[Step, ...] = ("drain", "play", "wait", "undrain")
STEP_EVENTS: dict[Step, str] = {"drain": PATCH_DRAIN_EVENT, "play": PATCH_PLAY_EVENT, "wait": PATCH_WAIT_EVENT,
                                "undrain": PATCH_UNDRAIN_EVENT}
# pending: not reached yet; running: at `step`; done: patched and undrained; failed: stopped at `step`;
# untouched: the run stopped before it (nothing was done to it)
HostStatus = Literal["pending", "running", "done", "failed", "untouched"]


def batches(hosts: Sequence[str], serial: int) -> list[list[str]]:
    """The hosts in inventory order (each once), `serial` at a time."""
    if serial < 1:
        raise UserInputError(f"--serial must be 1 or more, not {serial}", where="--serial")
    ordered = list(dict.fromkeys(hosts))
    return [ordered[i:i + serial] for i in range(0, len(ordered), serial)]


def check_max_fail(max_fail: int) -> None:
    if max_fail < 0:
        raise UserInputError(f"--max-fail must be 0 or more, not {max_fail}", where="--max-fail")


def check_targets(hosts: Sequence[str], engines: Mapping[str, str]) -> None:
    """Every host must be an engine of the service (id → status), else nothing may start."""
    unknown = [h for h in hosts if h not in engines]
    if unknown:
        known = ", ".join(sorted(engines)) or "none"
        raise UserInputError(f"not known to the service: {', '.join(unknown)} (its engines: {known}); "
                             "bootstrap the host first, or take it out of the group", where="inventory")


def should_stop(failures: int, max_fail: int) -> bool:
    """Stop once more hosts failed than --max-fail allows (0: at the first failure)."""
    return failures > max_fail


def healthy_since(samples: Sequence[tuple[float, str]]) -> float | None:
    """When the host's latest unbroken run of `up` began, from (time, status) samples oldest first; None when
    the last sample is not `up`."""
    since = None
    for at, status in samples:
        if status != UP:
            since = None
        elif since is None:
            since = at
    return since


def settled(samples: Sequence[tuple[float, str]], now: float, settle: float) -> bool:
    """Healthy again: the service has shown the host `up` (registered, answering) in every sample of the last
    `settle` seconds, so a status not yet updated since the playbook ran is not taken for health."""
    since = healthy_since(samples)
    return since is not None and now - since >= settle


class HostPatch(Result):
    """One host of a `patch` run: where it is, and when it failed, at which step, which task and what it said."""

    host: str
    batch: int  # 1-based
    status: HostStatus = "pending"
    step: Step | None = None  # the step it is at (running) or failed at (failed)
    task: str | None = None  # the playbook task that failed (play step)
    output: str = ""  # what the failure said (the task's output, the service's message)
    moved: int = 0  # replicas the drain moved
    drained: bool = False  # unschedulable now (a failed host stays so)
    seconds: dict[str, float] = {}  # step → seconds it took


class PatchReport(Result):
    """`paasops patch`: every host's outcome in order, and whether (and where) the run stopped."""

    playbook: str
    serial: int
    max_fail: int
    hosts: list[HostPatch]
    stopped: bool = False
    message: str = ""
    warnings: list[str] = []  # events the service could not record

    @classmethod
    def start(cls, playbook: str, groups: list[list[str]], serial: int, max_fail: int) -> PatchReport:
        hosts = [HostPatch(host=h, batch=i) for i, group in enumerate(groups, 1) for h in group]
        return cls(playbook=playbook, serial=serial, max_fail=max_fail, hosts=hosts)

    def host(self, name: str) -> HostPatch:
        return next(h for h in self.hosts if h.host == name)

    @property
    def failed(self) -> list[HostPatch]:
        return [h for h in self.hosts if h.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and all(h.status == "done" for h in self.hosts)

    def begin(self, name: str, step: Step) -> None:
        host = self.host(name)
        host.status, host.step = "running", step
        if step == "drain":
            host.drained = True  # from the first call on, whatever the drain's outcome, until undrained

    def finish_step(self, name: str, step: Step, seconds: float) -> None:
        host = self.host(name)
        host.seconds = {**host.seconds, step: round(seconds, 2)}
        if step == "undrain":
            host.status, host.step, host.drained = "done", None, False

    def fail(self, name: str, step: Step, output: str, *, task: str | None = None, drained: bool = True) -> None:
        host = self.host(name)
        host.status, host.step, host.task, host.output, host.drained = "failed", step, task, output, drained

    def should_stop(self) -> bool:
        return should_stop(len(self.failed), self.max_fail)

    def stop(self) -> None:
        """Leave every host not reached untouched."""
        self.stopped = True
        for host in self.hosts:
            if host.status == "pending":
                host.status = "untouched"

    def conclude(self) -> str:
        done = sum(h.status == "done" for h in self.hosts)
        parts = [f"{done} of {len(self.hosts)} host(s) patched"]
        parts += [failure_line(h) for h in self.failed]
        untouched = [h.host for h in self.hosts if h.status == "untouched"]
        if untouched:
            parts.append(f"stopped: not touched: {', '.join(untouched)}")
        self.message = "; ".join(parts)
        return self.message


def failure_line(host: HostPatch) -> str:
    """`lab2 failed at play (task 'Upgrade'): … — left drained`."""
    what = f" (task {host.task!r})" if host.task else ""
    left = "left drained" if host.drained else "not drained"
    return f"{host.host} failed at {host.step}{what}: {host.output.strip() or 'no output'} — {left}"


# -- the plan (--check): nothing is changed ------------------------------------------------------------------

class PlannedMove(Result):
    """A replica the drain of its host would move, and where to (placement's choice today)."""

    app: str
    to_host: str
    score: float


class PlaybookChange(Result):
    """A task the playbook would change (or fail at) on the host, in check mode."""

    task: str
    status: str  # changed | failed | unreachable
    message: str = ""


class HostPlan(Result):
    host: str
    batch: int
    moves: list[PlannedMove] = []
    stranded: list[str] = []  # "app: N replica(s) would not fit: why": the drain would be refused
    changes: list[PlaybookChange] = []


class PatchPlan(Result):
    """`paasops patch --check`: the hosts in order, the replicas each drain would move, the playbook's changes."""

    playbook: str
    serial: int
    batches: list[list[str]]
    hosts: list[HostPlan]
    ok: bool = True  # every drain fits and the playbook ran in check mode without failing
    message: str = ""


def patch_plan(playbook: str, serial: int, groups: list[list[str]], drains: Sequence[WhatIfPlan],
               changes: Mapping[str, list[PlaybookChange]]) -> PatchPlan:
    """The plan from one what-if drain per batch (in order) and the check-mode changes per host."""
    hosts: list[HostPlan] = []
    for number, (group, whatif) in enumerate(zip(groups, drains, strict=True), 1):
        for name in group:
            moves = [PlannedMove(app=a.app, to_host=m.host, score=m.score)
                     for a in whatif.apps for m in a.moves if m.from_host == name]
            stranded = [f"{a.app}: {a.stranded} replica(s) would not fit: {a.why or 'no room'}"
                        for a in whatif.apps if a.stranded]
            hosts.append(HostPlan(host=name, batch=number, moves=moves, stranded=stranded if name == group[0] else [],
                                  changes=changes.get(name, [])))
    refused = [h.host for h in hosts if h.stranded]
    failing = sorted({h.host for h in hosts for c in h.changes if c.status in ("failed", "unreachable")})
    parts = [f"{len(hosts)} host(s) in {len(groups)} batch(es) of {serial}",
             f"{sum(len(h.moves) for h in hosts)} replica(s) would move"]
    if refused:
        parts.append(f"the drain of the batch of {', '.join(refused)} would be refused (replicas would not fit)")
    if failing:
        parts.append(f"the playbook fails in check mode on {', '.join(failing)}")
    return PatchPlan(playbook=playbook, serial=serial, batches=groups, hosts=hosts, ok=not (refused or failing),
                     message="; ".join(parts))
