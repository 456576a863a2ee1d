"""Run a playbook on many hosts in parallel; collect results, recap and failed hosts."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from paasops.automation.executor import HostLike, HostState, LazyFacts, RunOptions, execute_task
from paasops.automation.facts import host_facts_command, parse_host_facts
from paasops.automation.playbook import Play, Playbook, Task, load_playbook
from paasops.automation.recap import (
    Event,
    HostFinished,
    HostRecap,
    HostUnreachable,
    PlayStarted,
    RunFinished,
    RunReport,
    TaskFinished,
    TaskResult,
    TaskStarted,
)
from paasops.connectors.base import Connector
from paasops.errors import ConnectionFailed

GATHER_TASK = "gather facts"


def host_matches(patterns: Iterable[str], host: HostLike) -> bool:
    """`all`, a host name, a group name, or a shell-style wildcard on either."""
    names = {host.name, *(getattr(host, "groups", None) or ())}
    return any(p in ("all", "*") or any(fnmatch.fnmatchcase(n, p) for n in names) for p in patterns)


def gather_host_facts(connector: Connector) -> dict[str, Any]:
    """Host facts in one round trip; a connection error propagates (unreachable)."""
    return parse_host_facts(connector.run(host_facts_command()).stdout)


class _Run:
    """One run: shared options, the report under a lock, and the event sink."""

    def __init__(self, playbook: Playbook, connect: Callable[[Any], Connector], opts: RunOptions,
                 on_event: Callable[[Event], None] | None, tags: set[str] | None, skip_tags: set[str] | None):
        self.playbook, self.connect, self.opts = playbook, connect, opts
        self.on_event, self.tags, self.skip_tags = on_event, tags, skip_tags or set()
        self.report = RunReport(str(playbook.path), check=opts.check)
        self.lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self.lock:  # sinks see one event at a time, so they need no locking of their own
            if isinstance(event, TaskFinished):
                result = event.result
                self.report.results.append(result)
                self.report.recap.setdefault(result.host, HostRecap()).add(result)
                if result.status == "failed" and not result.ignored:
                    self.report.failures[result.host] = f"{result.task}: {result.message}"
            elif isinstance(event, HostUnreachable):
                self.report.unreachable[event.host] = event.message
            if self.on_event is not None:
                self.on_event(event)

    def selected(self, task: Task, play: Play) -> bool:
        tags = task.tags | play.tags
        if self.tags is not None and not (tags & self.tags or "always" in tags):
            return False
        return not (tags & self.skip_tags)

    def unreachable(self, state: HostState, play: Play, task: str, message: str, start: float) -> None:
        state.unreachable = True
        self.emit(TaskFinished(TaskResult(state.host.name, task, "unreachable", message,
                                          duration=time.monotonic() - start, play=play.name,
                                          check=self.opts.check)))
        self.emit(HostUnreachable(state.host.name, message))

    def run_task(self, task: Task, state: HostState, play: Play, handler: bool = False) -> bool:
        """Run one task; False when the host must stop (failed or unreachable)."""
        self.emit(TaskStarted(state.host.name, play.name, task.name, handler))
        start = time.monotonic()
        try:
            result = execute_task(task, state, play, self.opts, handler=handler)
        except ConnectionFailed as exc:
            self.unreachable(state, play, task.name, str(exc), start)
            return False
        self.emit(TaskFinished(result))
        if result.status == "failed" and not result.ignored:
            state.failed = True
            return False
        return True

    def play_on_host(self, play: Play, state: HostState) -> None:
        start = time.monotonic()
        try:
            if state.connector is None:
                try:
                    state.connector = self.connect(state.host)
                except Exception as exc:  # any failure to even open the host makes it unreachable
                    message = str(exc) if isinstance(exc, ConnectionFailed) else f"{type(exc).__name__}: {exc}"
                    self.unreachable(state, play, "connect", message, start)
                    return
            if state.facts is None:
                connector = state.connector
                if play.gather_facts:
                    self.emit(TaskStarted(state.host.name, play.name, GATHER_TASK))
                    try:
                        state.facts = gather_host_facts(connector)
                    except ConnectionFailed as exc:
                        self.unreachable(state, play, GATHER_TASK, str(exc), start)
                        return
                    except Exception as exc:  # e.g. the probe timed out: this host fails, others go on
                        state.failed = True
                        self.emit(TaskFinished(TaskResult(state.host.name, GATHER_TASK, "failed", str(exc),
                                                          duration=time.monotonic() - start, play=play.name,
                                                          module="setup", check=self.opts.check)))
                        return
                    self.emit(TaskFinished(TaskResult(state.host.name, GATHER_TASK, "ok",
                                                      duration=time.monotonic() - start, play=play.name,
                                                      module="setup", check=self.opts.check)))
                else:
                    state.facts = LazyFacts(lambda: gather_host_facts(connector))
            for task in play.tasks:
                if self.selected(task, play) and not self.run_task(task, state, play):
                    return
            for handler in play.handlers:  # in the order they are defined, as Ansible does
                if handler.name in state.notified:
                    state.notified.discard(handler.name)
                    if not self.run_task(handler, state, play, handler=True):
                        return
        finally:
            with self.lock:
                recap = self.report.recap.setdefault(state.host.name, HostRecap())
            self.emit(HostFinished(state.host.name, play.name, recap))


def run_playbook(playbook: str | Path | Playbook, hosts: list[HostLike], connect: Callable[[Any], Connector], *,
                 extra_vars: dict[str, Any] | None = None, check: bool = False, diff: bool = False,
                 forks: int = 10, templates_dir: str | Path | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 tags: set[str] | None = None, skip_tags: set[str] | None = None) -> RunReport:
    """Run every play on its matching hosts, `forks` hosts at a time; never raises for a host's failure.

    Hosts that fail or cannot be reached stop there (and skip later plays); the others go on.
    `templates_dir` defaults to the `templates/` beside the playbook's directory.
    """
    pb = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    base = pb.directory.resolve()
    if templates_dir is None:
        templates_dir = next((d for d in (base.parent / "templates", base / "templates") if d.is_dir()),
                             base.parent / "templates")
    opts = RunOptions(playbook_dir=base, templates_dir=Path(templates_dir), extra_vars=dict(extra_vars or {}),
                      check=check, diff=diff)
    run = _Run(pb, connect, opts, on_event, tags, skip_tags)
    states: dict[str, HostState] = {}
    for host in hosts:
        states.setdefault(host.name, HostState(host))
        run.report.recap.setdefault(host.name, HostRecap())
    try:
        for play in pb.plays:
            targets = [s for s in states.values()
                       if host_matches(play.hosts, s.host) and not (s.failed or s.unreachable)]
            run.emit(PlayStarted(play.name, tuple(s.host.name for s in targets), check))
            if not targets:
                continue
            with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets))),
                                    thread_name_prefix="paasops-host") as pool:
                for future in [pool.submit(run.play_on_host, play, s) for s in targets]:
                    future.result()
    finally:
        for state in states.values():
            if state.connector is not None:
                try:
                    state.connector.close()
                except Exception:  # closing is best effort; the run's outcome is already known
                    pass
    run.emit(RunFinished(run.report))
    return run.report
