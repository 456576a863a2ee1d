"""Jinja2 for playbooks: strict templating of task arguments, `when` expressions, templates."""

from __future__ import annotations

import base64
import json
import os.path
import re
import shlex
from typing import Any

import jinja2
import yaml

from paasops.errors import PlaybookError
from paasops.inventory.values import to_bool  # Ansible's truthiness, one definition

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError(msg or "mandatory variable is not defined")
    return value


def _status_test(key: str):
    def test(result: Any) -> bool:
        return isinstance(result, dict) and bool(result.get(key))
    return test


def make_env(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The one Jinja2 environment: StrictUndefined, trailing newlines kept, Ansible-ish filters."""
    # Not sandboxed: templates and playbooks belong to the project, and playbooks run shell anyway.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, loader=loader,
                             autoescape=False)
    env.filters.update({
        "bool": to_bool,
        "to_json": lambda v, **kw: json.dumps(v, **kw),
        "to_nice_json": lambda v, indent=2: json.dumps(v, indent=indent, sort_keys=True),
        "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=False),
        "b64encode": lambda s: base64.b64encode(str(s).encode()).decode(),
        "b64decode": lambda s: base64.b64decode(str(s)).decode(),
        "quote": lambda s: shlex.quote(str(s)),
        "basename": lambda s: os.path.basename(str(s)),
        "dirname": lambda s: os.path.dirname(str(s)),
        "regex_replace": lambda s, pat, rep="": re.sub(pat, rep, str(s)),
        "mandatory": _mandatory,
    })
    env.tests.update({
        "failed": _status_test("failed"), "changed": _status_test("changed"),
        "skipped": _status_test("skipped"),
        "succeeded": lambda r: isinstance(r, dict) and not r.get("failed"),
        "search": lambda s, pat: re.search(pat, str(s)) is not None,
        "match": lambda s, pat: re.match(pat, str(s)) is not None,
    })
    return env


ENV = make_env()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_syntax(value: Any) -> str | None:
    """The syntax error in a templated string, or None (used at load time)."""
    if not is_template(value):
        return None
    try:
        ENV.parse(value)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return None


def check_expression(expr: Any) -> str | None:
    if isinstance(expr, bool):
        return None
    try:
        ENV.compile_expression(_strip_braces(str(expr)))
    except jinja2.TemplateSyntaxError as exc:
        return f"expression syntax error: {exc.message}"
    return None


def render(value: Any, variables: dict[str, Any]) -> Any:
    """Render strings inside `value` (recursively); a lone `{{ expr }}` keeps its native type."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        single = _SINGLE_EXPR.match(value)
        if single:
            result = ENV.compile_expression(single.group("expr"), undefined_to_none=False)(**variables)
            if isinstance(result, jinja2.Undefined):
                str(result)  # raises UndefinedError with the variable's name
            return result
        return ENV.from_string(value).render(variables)
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    return value


def _strip_braces(expr: str) -> str:
    single = _SINGLE_EXPR.match(expr)
    return single.group("expr") if single else expr


def evaluate(expr: Any, variables: dict[str, Any]) -> bool:
    """Evaluate a `when`/`changed_when`/`assert` condition (a bare Jinja2 expression or a bool)."""
    if isinstance(expr, bool):
        return expr
    if isinstance(expr, list):
        return all(evaluate(e, variables) for e in expr)
    result = ENV.compile_expression(_strip_braces(str(expr)), undefined_to_none=False)(**variables)
    if isinstance(result, jinja2.Undefined):
        str(result)
    return to_bool(result) if isinstance(result, str) else bool(result)


def render_template_file(templates_dir: str, name: str, variables: dict[str, Any]) -> str:
    """Render a file from the templates directory with StrictUndefined."""
    env = make_env(jinja2.FileSystemLoader(templates_dir))
    try:
        return env.get_template(name).render(variables)
    except jinja2.TemplateNotFound as exc:
        raise PlaybookError(f"template {exc.name!r} not found in {templates_dir}") from exc


def template_error(exc: Exception) -> str:
    """A short message for a Jinja2 error raised while rendering."""
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f" ({exc.name}:{exc.lineno})" if exc.name else ""
        return f"template syntax error{where}: {exc.message}"
    return f"template error: {exc}"
