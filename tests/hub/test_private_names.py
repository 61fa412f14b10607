"""House rule: no module imports a ``_private`` name from another package or room, nor from a
command module of ``hub/commands`` (a private name is free to change with its own module)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("schemas", "quality", "storage", "ledger", "pipeline", "licence", "sharing", "holder")
ROOMS += ("dags", "api", "hub")


def _module(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).parent.parts)


def private_imports(root: Path = ROOT) -> list[str]:
    """``importer: module.name`` for each private name imported across the rule's lines."""
    found = []
    for room in ROOMS:
        for path in sorted((root / room).rglob("*.py")) if (root / room).is_dir() else []:
            here, package = _module(path, root), _package(path, root)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                source = node.module
                if source.split(".")[0] not in ROOMS or source == here:
                    continue
                source_package = source.rpartition(".")[0]
                if (root / source.replace(".", "/")).is_dir():  # a package's __init__
                    source_package = source
                command = source.startswith("hub.commands.")
                if source_package == package and not command:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{here}: {source}.{alias.name}")
    return sorted(found)


def test_no_module_imports_a_private_name_of_another_package_or_a_command() -> None:
    assert private_imports() == []


def test_the_rule_sees_a_private_import_across_rooms(tmp_path: Path) -> None:
    (tmp_path / "hub" / "commands").mkdir(parents=True)
    (tmp_path / "licence").mkdir()
    (tmp_path / "hub" / "demo.py").write_text("from hub.commands.quality import _table\n")
    (tmp_path / "hub" / "commands" / "seal.py").write_text(
        "from hub.commands.licence import _fail, open_service\n"
    )
    (tmp_path / "licence" / "pdf.py").write_text("def _qr() -> None: ...\n")
    (tmp_path / "licence" / "other.py").write_text("from licence.pdf import _qr\n")  # allowed
    (tmp_path / "licence" / "verify").mkdir()
    (tmp_path / "licence" / "verify" / "pdf.py").write_text("from licence.pdf import _qr\n")
    assert private_imports(tmp_path) == [
        "hub.commands.seal: hub.commands.licence._fail",
        "hub.demo: hub.commands.quality._table",
        "licence.verify.pdf: licence.pdf._qr",
    ]
