"""The API is handed its services: no module of ``api/`` imports ``hub`` (the composition root
builds the services with ``hub.wiring`` and passes them to ``api.app.create_app``)."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_module_of_the_api_imports_the_hub() -> None:
    sources = sorted(API.rglob("*.py"))
    assert len(sources) > 10  # the walk found the package
    offending = [
        f"api/{path.relative_to(API)}:{line} imports {module}"
        for path in sources
        for line, module in _imported_modules(ast.parse(path.read_text(), str(path)))
        if module == "hub" or module.startswith("hub.")
    ]
    assert offending == []


def test_the_walk_sees_lazy_imports_inside_functions() -> None:
    tree = ast.parse("def f():\n    from hub.wiring import x\n    import hub.settings\n")
    assert [m for _, m in _imported_modules(tree)] == ["hub.wiring", "hub.settings"]


def test_the_api_loads_no_module_by_a_string_name() -> None:
    """Routers are imported explicitly: a broken one fails the app's import, never skipped."""
    calls = [
        f"api/{path.relative_to(API)}:{node.lineno}"
        for path in sorted(API.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            or (isinstance(node.func, ast.Name) and node.func.id in {"__import__", "import_module"})
        )
    ]
    assert calls == []
