"""Each room's ``__init__.py`` says what the room is for and names its public modules, and
every module it names exists (a renamed module shows up here, not in a reader's confusion)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("schemas", "quality", "storage", "ledger", "licence", "pipeline", "api", "hub", "dags")


def _surface(room: str) -> list[str]:
    doc = ast.get_docstring(ast.parse((ROOT / room / "__init__.py").read_text("utf-8"))) or ""
    paragraphs = doc.split("\n\n")
    assert len(paragraphs) >= 3, f"{room}: a summary line, what it is for, its public surface"
    surface = [p for p in paragraphs if p.startswith("Public surface:")]
    assert len(surface) == 1, f"{room}: one paragraph starting 'Public surface:'"
    first_sentence = re.split(r"\.\s", surface[0])[0]  # later sentences may name other rooms
    return re.findall(r"``([a-z_][a-z0-9_.]*)``", first_sentence)


@pytest.mark.parametrize("room", ROOMS)
def test_room_init_names_its_public_modules_and_they_exist(room: str) -> None:
    names = _surface(room)
    assert names, f"{room}: the public surface names no module"
    for name in names:
        parts = name.split(".")
        if parts[-1][0].isupper() or name in {"create_app"}:
            continue  # a class or function the paragraph points at, not a module
        where = ROOT / room / Path(*parts)
        assert where.with_suffix(".py").is_file() or (where / "__init__.py").is_file(), (
            f"{room}/__init__.py names ``{name}``, which is not a module of {room}/"
        )
