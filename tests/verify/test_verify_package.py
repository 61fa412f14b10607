"""The verification package keeps its shape: a leaf of results that imports nothing else from
the package, and no import cycle between its modules (the PDF verifier needs no hook)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "licence" / "verify"


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("licence.verify."):
                    found.add(node.module.removeprefix("licence.verify."))
                elif node.module == "licence.verify":
                    found.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(
                    a.name.removeprefix("licence.verify.")
                    for a in node.names
                    if a.name.startswith("licence.verify.")
                )
        graph[name] = found & {p.stem for p in PACKAGE.glob("*.py")}
    return graph


def test_results_is_a_leaf() -> None:
    graph = _imports()
    assert graph["results"] == set()
    assert all("results" in deps for name, deps in graph.items() if name != "results")


def test_no_module_of_the_package_imports_one_that_imports_it() -> None:
    graph = _imports()
    graph.pop("__init__")  # the public surface imports everything and nothing imports it

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_every_module_reads_in_one_sitting() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 600, sizes
