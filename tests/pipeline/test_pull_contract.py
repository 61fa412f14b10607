"""A contract's ``source``: what the hub pulls from, declared without credentials, refused with
the file, line and key at fault when it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.contracts import ContractError, load_contract
from schemas.pull_source import PullSource

BASE = """\
dataset_id: demo
title: demo
department: 测试厅
library: population
format: csv
key: [id_number]
subject_column: id_number
cadence_days: 1
columns:
  - {name: id_number, required: true, field: id_number}
  - {name: name, field: name}
"""


def load(tmp_path: Path, source: str) -> PullSource | None:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE + source, encoding="utf-8")
    return load_contract(path).pull


def test_a_contract_without_source_is_delivered_files_only(tmp_path: Path) -> None:
    assert load(tmp_path, "") is None


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "source: {kind: sql, connection: dept_ps, table: hh.residents, watermark: updated_at,"
            " deleted: is_deleted}",
            PullSource(
                "sql", "dept_ps", table="hh.residents", watermark="updated_at", deleted="is_deleted"
            ),
        ),
        (
            "source: {kind: sql, connection: dept_ps, query: 'SELECT * FROM r', snapshot: true}",
            PullSource("sql", "dept_ps", query="SELECT * FROM r", snapshot=True),
        ),
        (
            "source: {kind: prefix, connection: dept_s3, bucket: exchange, prefix: ps/}",
            PullSource("prefix", "dept_s3", bucket="exchange", prefix="ps/"),
        ),
        (
            "source: {kind: prefix, folder: /srv/exchange}",
            PullSource("prefix", folder="/srv/exchange"),
        ),
        (
            "source: {kind: http, connection: dept_api, path: /rows, watermark: seq}",
            PullSource("http", "dept_api", path="/rows", watermark="seq"),
        ),
        (
            "source: {kind: sql, connection: c, table: t, watermark: w, queue: dept_ps,"
            " every_minutes: 5}",
            PullSource("sql", "c", table="t", watermark="w", queue="dept_ps", every_minutes=5),
        ),
    ],
)
def test_each_kind_of_source_loads(tmp_path: Path, yaml_text: str, expected: PullSource) -> None:
    assert load(tmp_path, yaml_text + "\n") == expected


BROKEN = [
    ("source: {table: t}", "source.kind", "missing required key"),
    ("source: {kind: ftp}", "source.kind", "not one of sql, prefix, http"),
    (
        "source: {kind: sql, connection: c, table: t, watermark: w, password: x}",
        "source.password",
        "belong in the Airflow Connection",
    ),
    (
        "source: {kind: sql, url: 'postgresql://u:p@h/db', table: t, watermark: w}",
        "source.url",
        "belong in the Airflow Connection",
    ),
    ("source: {kind: sql, table: t, watermark: w}", "source.connection", "names its Airflow"),
    ("source: {kind: sql, connection: c, watermark: w}", "source", "a table or a query"),
    (
        "source: {kind: sql, connection: c, table: t, query: 'SELECT 1', watermark: w}",
        "source",
        "a table or a query",
    ),
    ("source: {kind: sql, connection: c, table: t}", "source", "watermark"),
    (
        "source: {kind: sql, connection: c, table: t, watermark: w, snapshot: true}",
        "source.watermark",
        "not both",
    ),
    (
        "source: {kind: sql, connection: c, query: 'DROP TABLE t', snapshot: true}",
        "source.query",
        "SELECT",
    ),
    (
        "source: {kind: sql, connection: c, table: 't; drop', snapshot: true}",
        "source.table",
        "table name",
    ),
    (
        "source: {kind: sql, connection: 'a b', table: t, snapshot: true}",
        "source.connection",
        "Connection id",
    ),
    (
        "source: {kind: sql, connection: c, table: t, watermark: 'w-1'}",
        "source.watermark",
        "column name",
    ),
    (
        "source: {kind: sql, connection: c, table: t, snapshot: yes please}",
        "source.snapshot",
        "true or false",
    ),
    (
        "source: {kind: sql, connection: c, table: t, snapshot: true, bucket: b}",
        "source.bucket",
        "unknown key for a sql source",
    ),
    ("source: {kind: prefix, prefix: x/}", "source", "a bucket or a folder"),
    ("source: {kind: prefix, bucket: b}", "source.connection", "names its Airflow"),
    ("source: {kind: prefix, folder: relative/dir}", "source.folder", "absolute"),
    (
        "source: {kind: prefix, folder: /x, connection: c}",
        "source.connection",
        "needs no connection",
    ),
    ("source: {kind: http, path: /rows, watermark: w}", "source.connection", "names its Airflow"),
    ("source: [sql]", "source", "expected a mapping"),
    ("source: {kind: prefix, folder: /x, queue: 'a b'}", "source.queue", "queue name"),
    ("source: {kind: prefix, folder: /x, queue: dept_ps}", "source.queue", "edge worker"),
    (
        "source: {kind: sql, connection: c, table: t, snapshot: true, queue: dept_ps}",
        "source.queue",
        "edge worker",
    ),
    ("source: {kind: prefix, folder: /x, every_minutes: 0}", "source.every_minutes", ">= 1"),
]


@pytest.mark.parametrize(("yaml_text", "field", "message"), BROKEN)
def test_bad_source_names_line_and_key(
    tmp_path: Path, yaml_text: str, field: str, message: str
) -> None:
    with pytest.raises(ContractError) as info:
        load(tmp_path, yaml_text + "\n")
    assert info.value.line == BASE.count("\n") + 1
    assert info.value.field_path == field
    assert message in str(info.value)


def test_a_provinces_own_contracts_are_read_after_the_projects(tmp_path: Path) -> None:
    from hub.settings import Settings
    from hub.wiring import contracts

    extra = tmp_path / "province"
    extra.mkdir()
    (extra / "demo.yaml").write_text(BASE + "source: {kind: prefix, folder: /srv/x}\n")
    settings = Settings(home=tmp_path / "hub", contracts_extra=extra)
    found = contracts(settings)
    assert found["demo"].pull == PullSource("prefix", folder="/srv/x")
    assert "ps_household" in found  # the project's are still there
    (extra / "clash.yaml").write_text(BASE.replace("dataset_id: demo", "dataset_id: ps_household"))
    with pytest.raises(ContractError, match="also in"):
        contracts(settings)
