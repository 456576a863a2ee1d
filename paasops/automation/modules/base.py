"""What every module shares: the argument schema, the run context and the outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paasops.automation.actions import Action
from paasops.automation.facts import Fact
from paasops.automation.templating import check_expression, check_syntax, is_template
from paasops.connectors.base import CommandResult, Connector
from paasops.errors import PaasopsError


class ArgError(PaasopsError):
    """A module argument is missing or wrong; the message names the field."""


class PlanError(PaasopsError):
    """The host is in a state the module refuses to change (e.g. a file where a dir is asked)."""


@dataclass(frozen=True)
class Arg:
    """One module argument: its type, whether it is required, allowed values, default."""

    type: str = "str"  # str | bool | int | float | list | dict | mode | any | expr
    required: bool = False
    choices: tuple[Any, ...] | None = None
    default: Any = None


def parse_mode(value: Any) -> int:
    """A file mode: YAML's 0644 arrives as the int 420; strings are read as octal."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or any(c not in "01234567" for c in text.removeprefix("0o")):
        raise ValueError
    return int(text.removeprefix("0o"), 8)


def _coerce(name: str, spec: Arg, value: Any) -> Any:
    kind = spec.type
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("yes", "true", "no", "false", "on", "off"):
            return value.lower() in ("yes", "true", "on")
        raise ArgError(f"field {name!r} must be a boolean")
    if kind in ("int", "float"):
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(value) if kind == "int" else float(value)
        except (TypeError, ValueError):
            raise ArgError(f"field {name!r} must be a number") from None
    if kind == "str":
        if isinstance(value, (dict, list)) or value is None:
            raise ArgError(f"field {name!r} must be a string")
        return str(value)
    if kind == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ArgError(f"field {name!r} must be a list or a string")
        return [str(v) for v in value]
    if kind == "dict":
        if not isinstance(value, dict):
            raise ArgError(f"field {name!r} must be a mapping")
        return value
    if kind == "mode":
        try:
            return parse_mode(value)
        except ValueError:
            raise ArgError(f"field {name!r} must be an octal mode like '0644'") from None
    return value


class Module:
    """A module: validates its arguments, reads facts, plans actions (pure), or runs itself."""

    name = ""
    args: dict[str, Arg] = {}
    free_form: str | None = None  # the argument a bare string (`command: ls`) fills
    any_args = False  # set_fact: any key is allowed
    raw_args: frozenset[str] = frozenset()  # expressions, not templates: left unrendered

    def validate(self, raw: Any, *, partial: bool = False) -> dict[str, Any]:
        """Check and normalise arguments; with partial=True templated values are not checked."""
        if isinstance(raw, str) and self.free_form:
            raw = {self.free_form: raw}
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ArgError(f"module {self.name!r} takes a mapping of arguments")
        if not self.any_args:
            for key in raw:
                if key not in self.args:
                    raise ArgError(f"unknown field {key!r} for module {self.name!r}"
                                   f" (fields: {', '.join(sorted(self.args))})")
        out: dict[str, Any] = {}
        for key, value in raw.items():
            spec = self.args.get(key, Arg("any"))
            if spec.type == "expr" or key in self.raw_args:
                error = check_expression(value) if isinstance(value, (str, bool)) else None
                if error:
                    raise ArgError(f"field {key!r}: {error}")
                out[key] = value
                continue
            if partial and _templated(value):
                error = _syntax(value)
                if error:
                    raise ArgError(f"field {key!r}: {error}")
                out[key] = value
                continue
            value = _coerce(key, spec, value)
            if spec.choices is not None and value not in spec.choices:
                raise ArgError(f"field {key!r} must be one of {', '.join(map(str, spec.choices))}")
            out[key] = value
        for key, spec in self.args.items():
            if key not in out:
                if spec.required:
                    raise ArgError(f"missing required field {key!r}")
                out[key] = spec.default
        self.check(out, partial=partial)
        return out

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        """Module-specific rules across fields (e.g. exactly one of src/content)."""

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        """Read the facts `plan` needs from the host (cheap read-only commands)."""
        return {}

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        """Pure: the actions needed to go from `facts` to what `args` ask; [] means ok."""
        return []

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        """Default: gather facts, then plan; the executor applies the actions (or not, in check)."""
        return Outcome(actions=self.plan(args, self.gather(ctx, args)))


def _templated(value: Any) -> bool:
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return is_template(value)


def _syntax(value: Any) -> str | None:
    if isinstance(value, list):
        return next((e for e in map(_syntax, value) if e), None)
    if isinstance(value, dict):
        return next((e for e in map(_syntax, value.values()) if e), None)
    return check_syntax(value)


@dataclass
class Outcome:
    """What a module did or wants: actions to apply, or a direct verdict (failed/skipped/msg)."""

    actions: list[Action] = field(default_factory=list)
    failed: bool = False
    skipped: bool = False
    changed: bool = False  # for modules that changed something themselves (none by default)
    msg: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # extra fields of the registered result
    set_facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModuleContext:
    """Everything a module may use while running on one host."""

    connector: Connector
    host_facts: Mapping[str, Any]
    variables: dict[str, Any]
    become: bool = False
    check: bool = False
    playbook_dir: Path = Path(".")
    templates_dir: Path = Path("templates")

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        return self.connector.run(command, sudo=self.become, timeout=timeout)

    def fact(self, fact: Fact) -> Any:
        return fact.parse(self.run(fact.command).stdout)

    def read(self, path: str) -> bytes | None:
        return self.connector.get(path, sudo=self.become)
