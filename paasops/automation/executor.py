"""Run one task on one host: when, loop, templating, the module, applying its actions."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jinja2

from paasops.automation.actions import Action, Command, WriteFile, describe, diff_all, summary
from paasops.automation.modules import ModuleContext, Outcome, lookup
from paasops.automation.playbook import Play, Task
from paasops.automation.recap import Status, TaskResult
from paasops.automation.templating import evaluate, render, template_error
from paasops.connectors.base import CommandResult, Connector
from paasops.errors import CommandFailed, ConnectionFailed, PaasopsError


class HostLike(Protocol):
    """What the engine needs of an inventory host (paasops.inventory.Host fits)."""

    name: str
    address: str
    vars: Mapping[str, Any]


class LazyFacts(Mapping):
    """Host facts gathered on first use (for plays with `gather_facts: false`)."""

    def __init__(self, load: Callable[[], dict[str, Any]]):
        self._load = load
        self._data: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


@dataclass
class HostState:
    """Everything the run keeps per host across tasks and plays."""

    host: HostLike
    connector: Connector | None = None
    facts: Mapping[str, Any] | None = None
    registered: dict[str, Any] = field(default_factory=dict)  # register + set_fact
    notified: set[str] = field(default_factory=set)
    failed: bool = False
    unreachable: bool = False


@dataclass(frozen=True)
class RunOptions:
    playbook_dir: Path
    templates_dir: Path
    extra_vars: dict[str, Any] = field(default_factory=dict)
    check: bool = False
    diff: bool = False


def host_become(host: HostLike) -> bool:
    """The inventory's say on sudo (`ansible_become`), used when neither play nor task sets it."""
    value = getattr(host, "become", None)
    if value is None:
        value = (host.vars or {}).get("ansible_become", False)
    return value.strip().lower() in ("1", "y", "yes", "on", "true") if isinstance(value, str) else bool(value)


def _render_layer(values: dict[str, Any], ns: dict[str, Any], label: str) -> None:
    """Add `values` to `ns`, rendering each; one that cannot render yet stays an Undefined."""
    for key, value in values.items():
        try:
            ns[key] = render(value, ns)
        except jinja2.TemplateError as exc:
            detail = exc.message if isinstance(exc, jinja2.UndefinedError) else template_error(exc)
            ns[key] = jinja2.StrictUndefined(hint=f"{label} {key!r} could not be rendered: {detail}")


def variables(state: HostState, play: Play, task: Task | None, opts: RunOptions) -> dict[str, Any]:
    """Host vars < play vars < registered/set_fact < task vars < extra vars < facts and magic vars."""
    magic = {"inventory_hostname": state.host.name,
             "inventory_address": getattr(state.host, "address", state.host.name),
             "playbook_dir": str(opts.playbook_dir), "check_mode": opts.check}
    # Extra vars and magic vars win over everything, so they are visible while rendering the rest.
    magic["facts"] = state.facts if state.facts is not None else {}
    ns: dict[str, Any] = {**(state.host.vars or {}), **opts.extra_vars, **magic}
    _render_layer(play.vars, ns, "play var")
    ns.update(state.registered)
    if task is not None:
        _render_layer(task.vars, ns, "task var")
    ns.update(opts.extra_vars)
    ns.update(magic)
    return ns


def apply(connector: Connector, actions: list[Action], become: bool) -> tuple[CommandResult | None, str | None]:
    """Apply actions in order; stop at the first failure. Returns (last command result, error)."""
    last = None
    for action in actions:
        if isinstance(action, Command):
            last = connector.run(action.cmd, sudo=become, timeout=action.timeout)
            if not last.ok:
                return last, str(CommandFailed(last))
        elif isinstance(action, WriteFile):
            connector.put(action.content, action.path, mode=action.mode, sudo=become)
            if action.owner or action.group:
                spec = (action.owner or "") + (f":{action.group}" if action.group else "")
                result = connector.run(f"chown {shlex.quote(spec)} {shlex.quote(action.path)}", sudo=become)
                if not result.ok:
                    return result, str(CommandFailed(result))
    return last, None


def _run_item(task: Task, state: HostState, ns: dict[str, Any], play: Play, opts: RunOptions) -> dict[str, Any]:
    """One (possibly looped) execution; returns the registered result of this item."""
    if task.when and not evaluate(list(task.when), ns):
        return {"skipped": True, "changed": False, "failed": False, "msg": "condition was false"}
    module = lookup(task.module)
    assert module is not None, f"unknown module {task.module!r}"  # playbook parsing rejects these
    rendered = {k: (v if k in module.raw_args else render(v, ns)) for k, v in task.args.items()}
    args = module.validate({k: v for k, v in rendered.items() if v is not None or module.any_args})
    check = opts.check if task.check_mode is None else task.check_mode
    become = next(b for b in (task.become, play.become, host_become(state.host)) if b is not None)
    assert state.connector is not None, "the runner connects before running tasks"
    ctx = ModuleContext(connector=state.connector, host_facts=state.facts if state.facts is not None else {},
                        variables=ns,
                        become=become, check=check, playbook_dir=opts.playbook_dir,
                        templates_dir=opts.templates_dir)
    outcome: Outcome = module.execute(ctx, args)
    result: dict[str, Any] = {"changed": outcome.changed or bool(outcome.actions), "failed": outcome.failed,
                              "skipped": outcome.skipped, "msg": outcome.msg, **outcome.data}
    if outcome.actions:
        result["actions"] = describe(outcome.actions)
        result["diff"] = diff_all(outcome.actions) if opts.diff else ""
        if not result["msg"]:
            result["msg"] = ("would: " if check else "") + "; ".join(summary(a) for a in outcome.actions)
    ran = bool(outcome.actions) and not check
    if ran:
        last, error = apply(state.connector, outcome.actions, become)
        if last is not None:
            result.update(rc=last.exit_code, stdout=last.stdout.rstrip("\n"), stderr=last.stderr.rstrip("\n"),
                          stdout_lines=last.stdout.splitlines())
        if error:
            result.update(failed=True, msg=error)
    elif task.module in ("command", "shell"):
        result.update(rc=0, stdout="", stderr="", stdout_lines=[])
    state.registered.update(outcome.set_facts)
    if ran or not outcome.actions:
        scope = {**ns, **({task.register: result} if task.register else {})}
        if task.failed_when is not None:  # first: a failure it forgives (`failed_when: false`) still gets its
            result["failed"] = evaluate(list(task.failed_when), scope)  # `changed_when` below
        if task.changed_when is not None and not result["failed"]:
            result["changed"] = evaluate(list(task.changed_when), scope)
    return result


def _aggregate(items: list[dict[str, Any]], looped: bool) -> dict[str, Any]:
    if not looped:
        return items[0]
    return {"results": items, "changed": any(i.get("changed") for i in items),
            "failed": any(i.get("failed") for i in items),
            "skipped": bool(items) and all(i.get("skipped") for i in items),
            "msg": "; ".join(i["msg"] for i in items if i.get("msg") and not i.get("skipped")),
            "diff": "".join(i.get("diff", "") for i in items)}


def execute_task(task: Task, state: HostState, play: Play, opts: RunOptions, *, handler: bool = False) -> TaskResult:
    """Run `task` on the host of `state`; ConnectionFailed propagates (the host is unreachable)."""
    start = time.monotonic()
    try:
        ns = variables(state, play, task, opts)
        looped = task.loop is not None
        items = render(task.loop, ns) if looped else [None]
        if not isinstance(items, list):
            raise PaasopsError(f"field 'loop' must give a list, got {type(items).__name__}")
        results = [_run_item(task, state, {**ns, "item": item} if looped else ns, play, opts) for item in items]
        result = _aggregate(results, looped)
    except ConnectionFailed:
        raise
    except PaasopsError as exc:
        result = {"failed": True, "changed": False, "msg": str(exc)}
    except jinja2.TemplateError as exc:
        result = {"failed": True, "changed": False, "msg": template_error(exc)}
    except Exception as exc:  # a bug in a module must fail the task, not the whole run
        result = {"failed": True, "changed": False, "msg": f"internal error: {type(exc).__name__}: {exc}"}
    if task.register:
        state.registered[task.register] = result
    status: Status = ("failed" if result.get("failed") else "skipped" if result.get("skipped")
              else "changed" if result.get("changed") else "ok")
    if status == "changed" and task.notify:
        state.notified.update(task.notify)
    message, diff = result.get("msg", ""), result.get("diff", "")
    if task.no_log:
        message, diff = "output hidden (no_log)", ("(diff hidden: no_log)\n" if diff else "")
    return TaskResult(host=state.host.name, task=task.name, status=status, message=message, diff=diff,
                      duration=time.monotonic() - start, play=play.name,
                      module=task.module, ignored=status == "failed" and task.ignore_errors,
                      check=opts.check, handler=handler)
