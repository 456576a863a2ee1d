"""Ansible's YAML inventory format (errors name the line and the key path)."""

from __future__ import annotations

from typing import Any

import yaml

from paasops.errors import InventoryError

from .builder import Builder
from .values import expand_host_pattern

_NULL = "tag:yaml.org,2002:null"


def compose(text: str, source: str):
    """The YAML node tree (nodes know their line) and the loader that builds values from nodes."""
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node(), loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InventoryError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                             where=f"{source}:{mark.line + 1}" if mark else source) from None


def _entries(loader, node, path: str, where: str, what: str) -> list:
    """(key, line, value node) of a mapping node; null is an empty mapping, anything else an error."""
    if node is None or node.tag == _NULL:
        return []
    if not isinstance(node, yaml.MappingNode):
        got = "a list" if isinstance(node, yaml.SequenceNode) else repr(node.value)
        raise InventoryError(f"{path}: expected {what}, got {got}", where=where)
    loader.flatten_mapping(node)  # YAML merge keys (<<)
    return [(str(k.value), k.start_mark.line + 1, v) for k, v in node.value]


def parse_yaml_into(b: Builder, text: str, source: str) -> None:
    """Add the groups, hosts and vars of one YAML inventory text to `b`."""
    root, loader = compose(text, source)
    for name, line, body in _entries(loader, root, "top level", f"{source}:1", "a mapping of groups"):
        _yaml_group(b, loader, name, body, name, source, line)


def _yaml_group(b: Builder, loader, name: str, node, path: str, source: str, line: int) -> None:
    b.group(name)
    for key, kline, value in _entries(loader, node, path, f"{source}:{line}",
                                      "a mapping of hosts, children and vars"):
        kpath, kwhere = f"{path}.{key}", f"{source}:{kline}"
        if key not in ("hosts", "children", "vars"):
            raise InventoryError(f"{kpath}: unknown key; a group has only hosts, children and vars",
                                 where=kwhere)
        if key == "hosts" and isinstance(value, yaml.ScalarNode) and value.tag != _NULL:
            entries = [(value.value, kline, None)]  # Ansible accepts `hosts: web1`
        else:
            entries = _entries(loader, value, kpath, kwhere, "a mapping")
        if key == "vars":
            b.groups[name].vars.update(loader.construct_document(value) or {})
            continue
        for sub, sline, subnode in entries:
            spath, swhere = f"{kpath}.{sub}", f"{source}:{sline}"
            if key == "children":
                b.add_child(name, sub, swhere)
                _yaml_group(b, loader, sub, subnode, spath, source, sline)
                continue
            hvars: Any = {} if subnode is None else loader.construct_document(subnode)
            if not isinstance(hvars, dict | None):
                raise InventoryError(f"{spath}: host variables must be a mapping, got {hvars!r}",
                                     where=swhere)
            for hname, port in expand_host_pattern(sub, swhere):
                b.add_host(name, hname, port, hvars or {}, swhere)
