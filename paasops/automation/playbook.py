"""Playbook files: YAML plays of tasks, parsed into dataclasses and validated up front."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paasops.automation.modules import MODULES, ArgError, lookup
from paasops.automation.templating import check_expression, check_syntax, is_template
from paasops.errors import PlaybookError

TASK_KEYWORDS = frozenset({
    "name", "when", "register", "notify", "loop", "changed_when", "failed_when", "ignore_errors",
    "become", "vars", "tags", "args", "check_mode", "no_log",
})
PLAY_KEYWORDS = frozenset({"name", "hosts", "become", "gather_facts", "vars", "tasks", "handlers", "tags"})


@dataclass(frozen=True)
class Task:
    """One task: a module with its (possibly templated) arguments plus task keywords."""

    name: str
    module: str
    args: dict[str, Any]
    where: str
    when: tuple[Any, ...] = ()
    register: str | None = None
    notify: tuple[str, ...] = ()
    loop: Any = None
    changed_when: tuple[Any, ...] | None = None
    failed_when: tuple[Any, ...] | None = None
    ignore_errors: bool = False
    become: bool | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    check_mode: bool | None = None
    no_log: bool = False  # hide messages and diffs (secrets)


@dataclass(frozen=True)
class Play:
    name: str
    hosts: tuple[str, ...]
    tasks: tuple[Task, ...]
    where: str
    handlers: tuple[Task, ...] = ()
    become: bool | None = None  # None: the host's own `become` (inventory ansible_become) decides
    gather_facts: bool = True
    vars: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Playbook:
    path: Path
    plays: tuple[Play, ...]

    @property
    def directory(self) -> Path:
        return self.path.parent


def load_playbook(path: str | Path) -> Playbook:
    """Read and validate a playbook file; raises PlaybookError naming file, play, task, field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlaybookError(f"cannot read playbook: {exc.strerror}", where=str(path)) from exc
    return parse_playbook(text, path)


def parse_playbook(text: str, path: str | Path = "<playbook>") -> Playbook:
    path = Path(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PlaybookError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where=where) from exc
    if not isinstance(data, list) or not data:
        raise PlaybookError("a playbook is a non-empty list of plays", where=str(path))
    return Playbook(path, tuple(_parse_play(p, i, path) for i, p in enumerate(data, 1)))


def _bool(value: Any, fieldname: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise PlaybookError(f"field {fieldname!r} must be true or false", where=where)
    return value


def _names(value: Any, fieldname: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PlaybookError(f"field {fieldname!r} must be a string or a list of strings", where=where)


def _mapping(value: Any, fieldname: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PlaybookError(f"field {fieldname!r} must be a mapping", where=where)
    return value


def _parse_play(data: Any, index: int, path: Path) -> Play:
    if not isinstance(data, dict):
        raise PlaybookError(f"play #{index} must be a mapping", where=str(path))
    name = str(data.get("name") or f"#{index}")
    where = f"{path}: play {name!r}"
    for key in data:
        if key not in PLAY_KEYWORDS:
            raise PlaybookError(f"unknown field {key!r} (fields: {', '.join(sorted(PLAY_KEYWORDS))})",
                                where=where)
    if "hosts" not in data:
        raise PlaybookError("missing required field 'hosts'", where=where)
    hosts = tuple(h.strip() for h in ",".join(_names(data["hosts"], "hosts", where)).replace(":", ",").split(",")
                  if h.strip())
    tasks = data.get("tasks") or []
    handlers = data.get("handlers") or []
    for key, value in (("tasks", tasks), ("handlers", handlers)):
        if not isinstance(value, list):
            raise PlaybookError(f"field {key!r} must be a list of tasks", where=where)
    play_tags = frozenset(_names(data["tags"], "tags", where)) if "tags" in data else frozenset()
    parsed_handlers = tuple(_parse_task(t, i, where, "handler") for i, t in enumerate(handlers, 1))
    parsed_tasks = tuple(_parse_task(t, i, where, "task") for i, t in enumerate(tasks, 1))
    known = {h.name for h in parsed_handlers}
    for task in parsed_tasks + parsed_handlers:
        for target in task.notify:
            if target not in known:
                raise PlaybookError(f"field 'notify' names unknown handler {target!r}"
                                    + (f" (handlers: {', '.join(sorted(known))})" if known else ""),
                                    where=task.where)
    return Play(
        name=name, hosts=hosts, tasks=parsed_tasks, handlers=parsed_handlers, where=where,
        become=_bool(data["become"], "become", where) if "become" in data else None,
        gather_facts=_bool(data.get("gather_facts", True), "gather_facts", where),
        vars=_mapping(data.get("vars"), "vars", where), tags=play_tags,
    )


def _conditions(value: Any, fieldname: str, where: str) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, (str, bool)):
            raise PlaybookError(f"field {fieldname!r} must be an expression or a list of them", where=where)
        error = check_expression(item)
        if error:
            raise PlaybookError(f"field {fieldname!r}: {error}", where=where)
    return tuple(items)


def _unknown_module(key: str) -> str:
    close = difflib.get_close_matches(key, list(MODULES), n=1)
    return f"unknown module {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _parse_task(data: Any, index: int, play_where: str, kind: str) -> Task:
    if not isinstance(data, dict):
        raise PlaybookError(f"{kind} #{index} must be a mapping", where=play_where)
    name = data.get("name")
    label = str(name) if name else f"#{index}"
    where = f"{play_where}, {kind} {label!r}"
    candidates = [k for k in data if k not in TASK_KEYWORDS]
    if not candidates:
        raise PlaybookError(f"no module given (modules: {', '.join(sorted(MODULES))})", where=where)
    if len(candidates) > 1:
        known = [k for k in candidates if lookup(str(k))]
        if len(known) > 1:
            raise PlaybookError(f"several modules in one task: {', '.join(map(repr, known))}", where=where)
        unknown = next(k for k in candidates if not lookup(str(k)))
        message = (f"unknown field {unknown!r}" if known else _unknown_module(str(unknown)))
        raise PlaybookError(message, where=where)
    key = str(candidates[0])
    module = lookup(key)
    if module is None:
        raise PlaybookError(_unknown_module(key), where=where)
    raw = data[key]
    if "args" in data:
        extra = _mapping(data["args"], "args", where)
        raw = {**({module.free_form: raw} if isinstance(raw, str) and module.free_form else (raw or {})), **extra}
    try:
        args = module.validate(raw, partial=True)
    except ArgError as exc:
        raise PlaybookError(str(exc), where=where) from None
    register = data.get("register")
    if register is not None and not (isinstance(register, str) and register.isidentifier()):
        raise PlaybookError("field 'register' must be a variable name", where=where)
    loop = data.get("loop")
    if loop is not None and not isinstance(loop, list) and not is_template(loop):
        raise PlaybookError("field 'loop' must be a list or a template giving one", where=where)
    if is_template(loop) and check_syntax(loop):
        raise PlaybookError(f"field 'loop': {check_syntax(loop)}", where=where)
    return Task(
        name=str(name) if name else f"{module.name} #{index}",
        module=module.name, args=args, where=where,
        when=_conditions(data["when"], "when", where) if "when" in data else (),
        register=register,
        notify=_names(data["notify"], "notify", where) if "notify" in data else (),
        loop=loop,
        changed_when=_conditions(data["changed_when"], "changed_when", where) if "changed_when" in data else None,
        failed_when=_conditions(data["failed_when"], "failed_when", where) if "failed_when" in data else None,
        ignore_errors=_bool(data.get("ignore_errors", False), "ignore_errors", where),
        become=_bool(data["become"], "become", where) if "become" in data else None,
        vars=_mapping(data.get("vars"), "vars", where),
        tags=frozenset(_names(data["tags"], "tags", where)) if "tags" in data else frozenset(),
        check_mode=_bool(data["check_mode"], "check_mode", where) if "check_mode" in data else None,
        no_log=_bool(data.get("no_log", False), "no_log", where),
    )
