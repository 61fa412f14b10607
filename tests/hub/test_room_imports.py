"""House rules of architecture.md §2, checked over the source: no room imports a room above
it, no module imports another module's ``_private`` name, and no module-level import cycle
anywhere.

A room's modules may import the rooms its row of the table names (``schemas/`` only the
standard library and pyarrow; ``api/`` every room but ``hub/``, since the API is handed its
services; ``hub/`` is the composition root and may import everything). Imports inside
functions count for the room rule (a lazy import is still a dependency) but not for cycles
(Python resolves them at call time, after both modules exist).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("schemas", "quality", "storage", "ledger", "pipeline", "licence", "sharing", "holder")
ROOMS += ("dags", "api", "hub")
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": set(),
    "quality": {"schemas"},
    "storage": {"schemas"},
    "ledger": {"storage"},
    "pipeline": {"schemas", "quality", "storage", "ledger"},
    "licence": {"schemas", "storage", "ledger", "quality"},
    "sharing": {"schemas", "quality", "storage", "ledger", "licence"},
    "holder": {"schemas", "storage", "ledger", "licence", "sharing"},
    "dags": {"schemas", "quality", "storage", "ledger", "pipeline", "licence", "sharing"}
    | {"holder", "hub"},
    "api": {"schemas", "quality", "storage", "ledger", "pipeline", "licence", "sharing"}
    | {"holder"},
    "hub": set(ROOMS),
}


def _modules() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")) if (ROOT / room).is_dir() else []:
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, *, top_level_only: bool) -> list[tuple[list[str], int]]:
    """Per import statement, the names it may load, most specific last: ``from a import b``
    gives ``["a", "a.b"]`` (``a.b`` is a module or a name in ``a``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [([a.name], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [([node.module, f"{node.module}.{a.name}"], node.lineno) for a in node.names]
    return out


def room_violations() -> list[str]:
    bad = []
    for module, path in _modules().items():
        room = module.split(".")[0]
        for names, line in _imports(path, top_level_only=False):
            top = names[0].split(".")[0]
            if top in ROOMS and top != room and top not in MAY_IMPORT[room]:
                bad.append(f"{module}:{line} imports {names[-1]}")
    return sorted(set(bad))


def private_imports() -> list[str]:
    """``from m import _name`` where ``m`` is one of ours and ``_name`` is not a dunder: a name
    another module needs is part of its module's interface and says so by having no underscore."""
    bad = []
    modules = _modules()
    for module, path in modules.items():
        for names, line in _imports(path, top_level_only=False):
            if len(names) < 2 or names[0] not in modules:
                continue
            name = names[-1].rsplit(".", 1)[1]
            if name.startswith("_") and not name.startswith("__"):
                bad.append(f"{module}:{line} imports {names[-1]}")
        bad += private_attributes(module, path, modules)
    return sorted(set(bad))


def private_attributes(module: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """``alias._name`` where ``alias`` is one of our modules imported under that name (``import
    a.b as alias`` or ``from a import b as alias``): the same reach past the interface."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname: a.name for a in node.names if a.asname and a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    bad = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and aliases[node.value.id] != module
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            bad.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return bad


def import_cycles() -> list[list[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for names, _line in _imports(path, top_level_only=True):
            # `from package import submodule` loads the submodule (the package is already
            # initialising when one of its own modules does this): the edge goes there
            target = names[-1] if names[-1] in modules else names[0]
            if target in modules and target != module:
                graph[module].add(target)
    # Tarjan's strongly connected components; a component of two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                cycles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_room_imports_a_room_above_it() -> None:
    assert room_violations() == []


def test_no_module_imports_another_modules_private_name() -> None:
    assert private_imports() == []


def test_no_module_level_import_cycle() -> None:
    assert import_cycles() == []


def test_the_checks_see_a_violation_and_a_cycle(tmp_path: Path, monkeypatch) -> None:
    # the walkers above would pass an empty tree: show them one of each
    for room in ("quality", "storage"):
        (tmp_path / room).mkdir()
    (tmp_path / "quality" / "a.py").write_text("import storage.b\n", encoding="utf-8")
    (tmp_path / "storage" / "b.py").write_text("import storage.c\n", encoding="utf-8")
    (tmp_path / "storage" / "c.py").write_text("from storage import b\n", encoding="utf-8")
    (tmp_path / "storage" / "d.py").write_text("from storage.b import _x, __all__\n", "utf-8")
    (tmp_path / "storage" / "e.py").write_text("from storage import b as x\nx._y()\n", "utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert room_violations() == ["quality.a:1 imports storage.b"]
    assert private_imports() == [
        "storage.d:1 imports storage.b._x",
        "storage.e:2 uses storage.b._y",
    ]
    assert import_cycles() == [["storage.b", "storage.c"]]  # `from storage import b` too
    (tmp_path / "storage" / "c.py").write_text("def f():\n    import storage.b\n", encoding="utf-8")
    assert import_cycles() == []  # resolved at call time
