"""Fixtures for the ingest tests: a small person contract independent of the shipped YAMLs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.contracts import Contract, load_contract

PERSON_CONTRACT = """\
dataset_id: test_persons
title: 测试户籍
department: 测试公安局
library: population
format: {fmt}
encoding: auto
columns:
  - {{name: id_number, type: string, required: true, field: id_number}}
  - {{name: name, type: string, required: true, field: name}}
  - {{name: birth_date, type: date, field: birth_date}}
  - {{name: children, type: int}}
  - {{name: verified, type: bool, field: real_name_verified}}
key: id_number
subject_column: id_number
authoritative_for: [name, birth_date]
cadence_days: 1
"""


def person_contract(folder: Path, fmt: str = "csv") -> Contract:
    path = folder / f"test_persons_{fmt}.yaml"
    path.write_text(PERSON_CONTRACT.format(fmt=fmt), encoding="utf-8")
    return load_contract(path)


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    return person_contract(tmp_path)


@pytest.fixture
def make_contract(tmp_path: Path) -> Callable[[str], Contract]:
    """Factory: the test person contract declared with another file format."""
    return lambda fmt: person_contract(tmp_path, fmt)
