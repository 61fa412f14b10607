"""Helpers of the pull tests: a department's table of residents, its contract, its connection."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, text

from schemas.resident_id import check_character

DATASET = "dept_residents"

CONTRACT = """\
dataset_id: dept_residents
title: 县公安局 residents
department: 测试县公安局
library: population
format: {fmt}
encoding: utf-8
key: [id_number]
subject_column: id_number
authoritative_for: [name]
cadence_days: 1
source:
{source}
columns:
  - {{name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}}
  - {{name: name, type: string, required: true, field: name}}
  - {{name: mobile, type: string, field: mobile}}
"""

# a second department that also says people's names (not authoritatively): the fallback
OTHER = """\
dataset_id: other_names
title: 人社 names
department: 测试人社局
library: population
format: csv
encoding: utf-8
key: [id_number]
subject_column: id_number
cadence_days: 1
columns:
  - {name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}
  - {name: name, type: string, required: true, field: name}
"""


def person_id(i: int) -> str:
    body = f"340102{1960 + i % 40}0101{i % 1000:03d}"
    return body + check_character(body)


def write_contracts(folder: Path, source: str, fmt: str = "csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    indented = "\n".join("  " + line for line in source.strip().splitlines())
    (folder / "dept.yaml").write_text(CONTRACT.format(fmt=fmt, source=indented), encoding="utf-8")
    (folder / "other.yaml").write_text(OTHER, encoding="utf-8")
    return folder


def create_table(engine: Engine, table: str = "residents") -> None:
    """The department's table: a sequence as watermark, a deleted flag."""
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(
            text(
                f"CREATE TABLE {table} (id_number VARCHAR(18) PRIMARY KEY, name TEXT NOT NULL, "
                "mobile TEXT, seq INTEGER NOT NULL, is_deleted BOOLEAN NOT NULL DEFAULT FALSE)"
            )
        )


def upsert(
    engine: Engine, rows: Iterable[tuple[int, str]], table: str = "residents", deleted: bool = False
) -> None:
    """Insert or change rows (person number, name), each with the next sequence number, as a
    department's application would (a trigger or sequence sets ``seq``)."""
    with engine.begin() as conn:
        top = conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {table}")).scalar_one()
        for i, name in rows:
            top += 1
            params = {"id": person_id(i), "name": name, "seq": top, "d": deleted}
            done = conn.execute(
                text(
                    f"UPDATE {table} SET name = :name, seq = :seq, is_deleted = :d WHERE id_number = :id"
                ),
                params,
            ).rowcount
            if not done:
                conn.execute(
                    text(
                        f"INSERT INTO {table} (id_number, name, seq, is_deleted) "
                        "VALUES (:id, :name, :seq, :d)"
                    ),
                    params,
                )


def delete(engine: Engine, numbers: Iterable[int], table: str = "residents") -> None:
    """Flag rows deleted (with the next sequence number), as the department's system does."""
    with engine.begin() as conn:
        top = conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {table}")).scalar_one()
        for i in numbers:
            top += 1
            conn.execute(
                text(f"UPDATE {table} SET is_deleted = TRUE, seq = :seq WHERE id_number = :id"),
                {"seq": top, "id": person_id(i)},
            )


def hard_delete(engine: Engine, numbers: Iterable[int], table: str = "residents") -> None:
    with engine.begin() as conn:
        for i in numbers:
            conn.execute(text(f"DELETE FROM {table} WHERE id_number = :id"), {"id": person_id(i)})
