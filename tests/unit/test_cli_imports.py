"""The CLI's import graph, read from the source (imports inside functions count): no loops, main on top."""

from __future__ import annotations

import ast
from pathlib import Path

import paasops.cli

CLI = Path(paasops.cli.__file__).parent
PACKAGE = "paasops.cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CLI).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def imports(path: Path, modules: set[str]) -> set[str]:
    """The paasops.cli modules `path` imports anywhere in it (`from . import x` counts as importing x)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    paths = sorted(CLI.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every loop found by a depth-first walk (each reported once, from where it was entered)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_cycles_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_cli_has_no_import_loop():
    edges = graph()
    assert f"{PACKAGE}.commands.apps" in edges
    assert cycles(edges) == []


def test_nothing_imports_main_and_commands_do_not_import_each_other_upwards():
    edges = graph()
    assert not [m for m, targets in edges.items() if f"{PACKAGE}.main" in targets]
    assert not [m for m, targets in edges.items() if m.startswith(f"{PACKAGE}.commands.")
                and f"{PACKAGE}.lazy" in targets]
