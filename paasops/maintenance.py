"""Rolling host maintenance (`paasops patch`), the I/O: drain through the service, run the playbook over SSH,
wait until the service shows the host healthy and registered, undrain — batch by batch. What to do and when to
stop are decided in `paasops/maintenance_plan.py`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .automation import Event, Playbook, RunReport, run_playbook
from .automation.executor import HostLike
from .client import ApiClient
from .connectors.base import Connector
from .errors import ConflictError, PaasopsError
from .maintenance_plan import (
    STEP_EVENTS,
    PatchPlan,
    PatchReport,
    PlaybookChange,
    Step,
    batches,
    check_max_fail,
    check_targets,
    failure_line,
    patch_plan,
    settled,
)
from .vocabulary import PATCH_DONE_EVENT, PATCH_FAILED_EVENT

# host, step, a line of what is happening (a drain's progress, a task starting, the status seen)
StepSink = Callable[[str, Step, str], None]


class Patcher:
    """One `paasops patch` run over `hosts` (inventory order) with `playbook`, `serial` hosts at a time."""

    def __init__(self, api: ApiClient, playbook: Playbook, hosts: Sequence[HostLike],
                 connect: Callable[[Any], Connector], *, serial: int = 1, max_fail: int = 0,
                 templates_dir: Path | None = None, wait_timeout: float = 300.0, settle: float = 3.0,
                 poll: float = 0.5, on_step: StepSink | None = None):
        check_max_fail(max_fail)
        self.groups = batches([h.name for h in hosts], serial)
        self.api, self.playbook, self.connect = api, playbook, connect
        self.hosts = {h.name: h for h in hosts}
        self.serial, self.max_fail, self.templates_dir = serial, max_fail, templates_dir
        self.wait_timeout, self.settle, self.poll = wait_timeout, settle, poll
        self.on_step = on_step or (lambda host, step, line: None)

    def check_service(self) -> None:
        """Every host must be one of the service's engines; raises before anything is changed."""
        check_targets(list(self.hosts), {e.id: e.status for e in self.api.engines()})

    # -- --check ---------------------------------------------------------------------------------------------
    def plan(self) -> PatchPlan:
        """What a run would do: each batch's drain as a what-if, and the playbook in check mode on every host."""
        self.check_service()
        drains = [self.api.what_if(drain=group, explain=0) for group in self.groups]
        report = self._run_playbook(list(self.hosts), check=True)
        changes = {name: [PlaybookChange(task=r.task, status=r.status, message=r.message)
                          for r in report.for_host(name)
                          if r.status in ("changed", "failed", "unreachable") and not r.ignored]
                   for name in self.hosts}
        return patch_plan(str(self.playbook.path), self.serial, self.groups, drains, changes)

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self) -> PatchReport:
        self.check_service()
        report = PatchReport.start(str(self.playbook.path), self.groups, self.serial, self.max_fail)
        for group in self.groups:
            try:
                self._batch(group, report)
            except (Exception, KeyboardInterrupt) as exc:  # a bug or a Ctrl-C must not hide where the run
                # stopped: the hosts at a step fail there (left drained, as after any failure), and the run says so
                why = ("interrupted (Ctrl-C): the host is left as it is, drained"
                       if isinstance(exc, KeyboardInterrupt) else f"internal error: {type(exc).__name__}: {exc}")
                for host in report.hosts:
                    if host.status == "running" and host.step is not None:
                        self._fail(report, host.host, host.step, why)
                report.stop()
                break
            if report.should_stop():
                report.stop()
                break
        message = report.conclude()
        self._record(report, PATCH_DONE_EVENT, None, message, ok=report.ok, stopped=report.stopped,
                     failed=[h.host for h in report.failed])
        return report

    def _batch(self, group: list[str], report: PatchReport) -> None:
        if len(group) > 1:  # every host of the batch cordoned first; the ones that could not be are failed
            cordoned = self._cordon(group, report)
            batch = list(cordoned)
        else:
            cordoned, batch = {}, group
        drained = [host for host in batch if self._drain(host, report, cordoned=cordoned.get(host, False))]
        if not drained:
            return
        for host in self._play(drained, report):
            if self._wait(host, report):
                self._undrain(host, report)

    def _cordon(self, group: list[str], report: PatchReport) -> dict[str, bool]:
        """Every host of a batch made unschedulable before the first is drained, so that one host's replicas
        are not moved onto the next one of the batch (and moved twice). {host: whether this run cordoned it}
        for the hosts that are now unschedulable; a host that could not be is failed at its drain step."""
        cordoned = {}
        for host in group:
            self._begin(report, host, "drain")
            try:
                cordoned[host] = self.api.cordon_engine(host).changed
            except PaasopsError as exc:
                self._fail(report, host, "drain", f"cordon: {exc}", drained=self._unschedulable(host))
            else:
                self.on_step(host, "drain", "cordoned: no new placements while the batch is drained")
        return cordoned

    def _drain(self, host: str, report: PatchReport, *, cordoned: bool = False) -> bool:
        start = self._begin(report, host, "drain")
        try:
            result = self.api.drain_engine(host, on_progress=lambda e: self.on_step(host, "drain", e.get("line", "")))
        except ConflictError as exc:  # refused up front (placement): nothing was changed but the run's cordon
            if cordoned:
                try:
                    self.api.undrain_engine(host)
                except PaasopsError:
                    return self._fail(report, host, "drain", str(exc), drained=True)
            return self._fail(report, host, "drain", str(exc), drained=False)
        except PaasopsError as exc:
            return self._fail(report, host, "drain", str(exc), drained=self._unschedulable(host))
        if not result.ok:
            return self._fail(report, host, "drain", result.message)
        report.host(host).moved = len(result.moved)
        return self._end(report, host, "drain", start, result.message, moved=len(result.moved),
                         already=result.already)

    def _play(self, group: list[str], report: PatchReport) -> list[str]:
        starts = {host: self._begin(report, host, "play") for host in group}
        run = self._run_playbook(group, check=False)
        passed = []
        for host in group:
            failure = _failure(run, host)
            if failure is not None:
                self._fail(report, host, "play", failure[1], task=failure[0])
            else:
                recap = run.recap.get(host)
                passed.append(host)
                self._end(report, host, "play", starts[host], f"{host}: playbook done",
                          changed=recap.changed if recap else 0, tasks_ok=recap.ok if recap else 0)
        return passed

    def _wait(self, host: str, report: PatchReport) -> bool:
        start = self._begin(report, host, "wait")
        samples: list[tuple[float, str]] = []
        last = None
        while True:
            now = time.monotonic()
            try:
                last = self.api.engine(host)
                samples.append((now, last.status))
            except PaasopsError as exc:  # the service could not say: not healthy yet
                samples.append((now, f"unknown ({exc})"))
            self.on_step(host, "wait", f"status {samples[-1][1]}")
            if settled(samples, now, self.settle):
                return self._end(report, host, "wait", start, f"{host} is up and registered")
            if now - start > self.wait_timeout:
                error = f" ({last.error})" if last is not None and last.error else ""
                return self._fail(report, host, "wait", f"not healthy and registered after {self.wait_timeout:g} s: "
                                  f"the service shows it {samples[-1][1]}{error}")
            time.sleep(self.poll)

    def _undrain(self, host: str, report: PatchReport) -> bool:
        start = self._begin(report, host, "undrain")
        try:
            result = self.api.undrain_engine(host)
        except PaasopsError as exc:
            return self._fail(report, host, "undrain", str(exc))
        return self._end(report, host, "undrain", start, result.message)

    # -- helpers -------------------------------------------------------------------------------------------
    def _run_playbook(self, names: list[str], *, check: bool) -> RunReport:
        def on_event(event: Event) -> None:
            host, task = getattr(event, "host", None), getattr(event, "task", None)
            if host is not None and task is not None:
                self.on_step(host, "play", f"task: {task}")
        return run_playbook(self.playbook, [self.hosts[n] for n in names], self.connect, check=check,
                            forks=max(1, len(names)), templates_dir=self.templates_dir, on_event=on_event)

    def _unschedulable(self, host: str) -> bool:
        try:
            return self.api.engine(host).unschedulable
        except PaasopsError:
            return True  # cannot tell: say it may be drained

    def _begin(self, report: PatchReport, host: str, step: Step) -> float:
        report.begin(host, step)
        self.on_step(host, step, "")
        return time.monotonic()

    def _end(self, report: PatchReport, host: str, step: Step, start: float, message: str, **data: Any) -> bool:
        seconds = time.monotonic() - start
        report.finish_step(host, step, seconds)
        self._record(report, STEP_EVENTS[step], host, message, ok=True, seconds=round(seconds, 2), **data)
        return True

    def _fail(self, report: PatchReport, host: str, step: Step, output: str, *, task: str | None = None,
              drained: bool = True) -> bool:
        report.fail(host, step, output, task=task, drained=drained)
        self.on_step(host, step, "failed")
        line = failure_line(report.host(host))
        self._record(report, STEP_EVENTS[step], host, line, ok=False)
        self._record(report, PATCH_FAILED_EVENT, host, line, step=step, task=task, output=output[-2000:],
                     drained=drained)
        return False

    def _record(self, report: PatchReport, type_: str, host: str | None, message: str, **data: Any) -> None:
        try:
            self.api.record_event(type_, host=host, message=message,
                                  data={"playbook": report.playbook, **data})
        except PaasopsError as exc:  # the run goes on; the report says what could not be recorded
            report.warnings = [*report.warnings, f"event {type_} of {host or 'the run'} not recorded: {exc}"]


def _failure(run: RunReport, host: str) -> tuple[str | None, str] | None:
    """(the failed task, its output) of `host` in `run`, or None when it passed."""
    if host not in run.failures and host not in run.unreachable:
        return None
    failed = [r for r in run.for_host(host) if r.status in ("failed", "unreachable") and not r.ignored]
    if failed:
        return failed[-1].task, failed[-1].message
    return None, run.failures.get(host) or f"unreachable: {run.unreachable.get(host)}"
