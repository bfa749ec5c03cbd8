"""Imports point one way (webhooks/ -> bot/), and no module imports itself back through others."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted((ROOT / "bot").rglob("*.py"))
FORBIDDEN = ("flask", "sqlalchemy", "webhooks", "requests", "redis", "gunicorn", "alembic", "benchmarks")
PACKAGES = ("bot", "webhooks", "benchmarks")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module of ours `path` imports, wherever in the file (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (a package counts as its __init__)."""
    paths = {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {name: {i for i in _imports(path) if i in paths and i != name} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"a.x"}, "a.x": {"a"}}, ["a", "a.x", "a"]),
])
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def _within(graph: dict[str, set[str]], *packages: str) -> dict[str, set[str]]:
    keep = {name for name in graph if name.split(".")[0] in packages}
    return {name: graph[name] & keep for name in keep}


def test_no_import_cycles_in_the_service_or_the_benchmarks():
    # bot/ never imports the service (below), so a cycle through the service stays inside these packages.
    graph = _within(import_graph(), "webhooks", "benchmarks")
    assert "webhooks.workers" in graph["webhooks.cli"]
    assert find_cycle(graph) is None


def test_no_import_cycles_in_the_engine():
    assert find_cycle(_within(import_graph(), "bot")) is None


def test_the_service_never_imports_the_benchmarks():
    graph = import_graph()
    assert not [name for name, targets in graph.items()
                if name.startswith(("bot", "webhooks")) and any(t.startswith("benchmarks") for t in targets)]


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_nothing_of_the_service(path: Path):
    bad = [n for n in _imports(path) if n.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"
