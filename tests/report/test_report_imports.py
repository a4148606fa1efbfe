"""report/'s modules import one another without a circle (issue 21 §6: html <-> text was one).

Every import counts, also those inside functions: a lazy import only hides a circle until the
day someone moves it to the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mlflow_debt.report

PACKAGE = "mlflow_debt.report"
ROOT = Path(mlflow_debt.report.__file__).parent


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found.update(f"{PACKAGE}.{a.name}" for a in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {f"{PACKAGE}.{p.stem}": p for p in ROOT.glob("*.py") if p.stem != "__init__"}
    return {name: imports_of(path) & set(modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                found.append([*path[path.index(nxt) :], nxt])
            elif len(path) < len(edges):
                walk(nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, [start])
    return found


def test_the_finder_sees_a_circle():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"], ["b", "a", "b"]]


def test_report_modules_import_each_other_without_a_circle():
    edges = graph()
    assert f"{PACKAGE}.text" in edges[f"{PACKAGE}.render"]
    assert f"{PACKAGE}.html" in edges[f"{PACKAGE}.render"]
    assert cycles(edges) == []


def test_the_page_modules_share_only_the_model():
    edges = graph()
    assert f"{PACKAGE}.text" not in edges[f"{PACKAGE}.html"]
    assert f"{PACKAGE}.html" not in edges[f"{PACKAGE}.text"]
