"""Ansible's INI inventory format."""

from __future__ import annotations

import re
import shlex

from paasops.errors import InventoryError

from .builder import Builder
from .values import expand_host_pattern, parse_value

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def parse_ini_into(b: Builder, text: str, source: str) -> None:
    """Add the groups, hosts and vars of one INI inventory text to `b`."""
    group, state = "ungrouped", "hosts"
    pending: dict[str, tuple[str, str]] = {}  # group -> (where, what) until it is defined
    # As in Ansible, a child named before any section mentions it joins its parents when it is
    # defined (which orders each group's children the way `ansible-inventory --list` shows them).
    waiting: dict[str, list[tuple[str, str]]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        where, line = f"{source}:{lineno}", raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(f"section [{group}:{state}] has unknown type {state!r}; "
                                     "expected [group], [group:children] or [group:vars]", where=where)
            if state == "vars" and group not in b.defined:
                pending.setdefault(group, (where, f"section [{group}:vars] is for"))
            b.group(group, define=state != "vars")
            for parent, named_at in waiting.pop(group, []) if state != "vars" else []:
                b.add_child(parent, group, named_at)
        elif line.startswith("[") and line.endswith("]"):
            raise InventoryError(f"invalid section header {line!r} (no spaces; at most one ':')",
                                 where=where)
        elif state == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise InventoryError(f"expected key=value in [{group}:vars], got {line!r}", where=where)
            b.groups[group].vars[key.strip()] = parse_value(value)
        elif state == "children":
            m = _GROUP_NAME.match(line)
            if not m:
                raise InventoryError(f"expected a group name in [{group}:children], got {line!r}",
                                     where=where)
            child = m.group(1)
            pending.setdefault(child, (where, f"[{group}:children] names"))
            if child in b.groups:
                b.add_child(group, child, where)
            else:
                waiting.setdefault(child, []).append((group, where))
        else:
            _parse_host_line(b, group, line, where)
    for name, (where, what) in pending.items():
        if name not in b.defined:
            raise InventoryError(f"{what} undefined group {name!r}", where=where)


def _parse_host_line(b: Builder, group: str, line: str, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"cannot parse host line {line!r}: {exc}", where=where) from None
    hvars = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise InventoryError(f"expected key=value host variable, got {token!r}", where=where)
        hvars[key] = parse_value(value)
    for name, port in expand_host_pattern(tokens[0], where) if tokens else []:
        b.add_host(group, name, port, hvars, where)
