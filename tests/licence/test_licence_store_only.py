"""The licence service writes licence rows only through the licence store: no SQL of its own
(a second writer of the same tables is how a renamed column is missed in one of them)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_MODULES = ("licence/service.py", "licence/issuance.py")
# what a Protocol of the ledger names (a transaction handed through): no statement in them
TYPES_ONLY = {"Connection", "Engine"}


def sql_of_its_own(path: Path) -> list[str]:
    """Imports of SQL statement builders or of the store's tables in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [a.name for a in node.names]
            if (
                (node.module == "sqlalchemy" and set(names) - TYPES_ONLY)
                or (node.module == "licence.store" and set(names) - {"LicenceStore"})
                or node.module == "licence.tables"
            ):
                found.append(f"{node.module}: {', '.join(names)}")
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "sqlalchemy"]
    return found


def test_the_service_has_no_sql_of_its_own() -> None:
    for module in SERVICE_MODULES:
        assert sql_of_its_own(ROOT / module) == [], module


def test_the_rule_sees_a_statement_built_in_the_service(tmp_path: Path) -> None:
    module = tmp_path / "service.py"
    module.write_text(
        "from sqlalchemy.exc import OperationalError\n"  # an error to retry on: allowed
        "from sqlalchemy import Connection, Engine\n"  # types a Protocol names: allowed
        "from licence.store import LicenceStore\n"
        "def f():\n    from sqlalchemy import insert\n    from licence.tables import licences\n"
    )
    assert sql_of_its_own(module) == ["sqlalchemy: insert", "licence.tables: licences"]
