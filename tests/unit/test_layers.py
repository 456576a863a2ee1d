"""The package's import graph: no cycles, and nothing imports a layer above its own.

Reads the source with `ast` (every import, including those inside functions and under
TYPE_CHECKING), so a lazy import cannot hide a loop or an upward dependency.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "paasops"

# Layers, bottom first: a module may import its own layer or any below it, never one above.
# The longest matching prefix decides (`paasops.service.health` is pure core, `paasops.service` service).
LAYERS: list[tuple[str, list[str]]] = [
    ("words", ["paasops.errors", "paasops.vocabulary"]),
    ("model", ["paasops.results", "paasops.store.records"]),
    ("pure core", ["paasops.placement", "paasops.spec", "paasops.spec_diff", "paasops.health_check",
                   "paasops.update_policy", "paasops.rollout_plan",
                   "paasops.service.demands",
                   "paasops.maintenance_plan",  # `paasops patch`: batches, stop rule, report (I/O: paasops.maintenance)
                   "paasops.inventory", "paasops.auth.acl", "paasops.auth.ownership",
                   "paasops.auth.passwords", "paasops.auth.limiter", "paasops.service.reconcile", "paasops.service.health",
                   "paasops.service.report", "paasops.service.registration", "paasops.service.container_events",
                   "paasops.service.containers", "paasops.service.replicas", "paasops.service.keyed_lock",
                   "paasops.service.stream_limits", "paasops.service.log_redaction", "paasops.service.drain_plan",
                   "paasops.service.releases", "paasops.service.heal_plan", "paasops.edge_tls", "paasops.expose",
                   "paasops.service.route_table"]),
    ("adapters", ["paasops.store", "paasops.engines", "paasops.connectors", "paasops.pki",
                  "paasops.automation", "paasops.auth", "paasops.lab", "paasops.lab.http_load", "paasops.bootstrap", "paasops.verify"]),
    ("service", ["paasops.service"]),
    ("api", ["paasops.api"]),
    ("client", ["paasops.client", "paasops.maintenance"]),
    ("cli", ["paasops.cli", "paasops.__main__"]),
]


def layer_of(module: str) -> int:
    if module == "paasops":  # the package itself holds only its version
        return 0
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in known else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in known and m != module}


@functools.cache
def graph() -> dict[str, set[str]]:
    found = modules()
    return {m: imports_of(m, p, set(found)) for m, p in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_layer_of_takes_the_most_specific_prefix():
    assert LAYERS[layer_of("paasops.service.health")][0] == "pure core"
    assert LAYERS[layer_of("paasops.service.deploy")][0] == "service"
    assert LAYERS[layer_of("paasops.cli.main")][0] == "cli"


def test_no_import_cycles():
    assert cycles(graph()) == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_upward_import(module):
    edges = graph()
    upward = [f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for target in sorted(edges[module]) if layer_of(target) > layer_of(module)]
    assert upward == []
