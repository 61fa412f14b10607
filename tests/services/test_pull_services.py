"""Pulling from the real things: a department's PostgreSQL table and a MinIO bucket prefix, into
a hub on PostgreSQL and MinIO (the services tier)."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from minio import Minio
from servicekit import libpq_url, service_env, services_settings
from sqlalchemy import Engine, create_engine, text

from hub.settings import Settings
from hub.wiring import ingest_services, ledger_service
from pipeline.pull.connections import from_environment
from pipeline.pull.run import pull
from pipeline.retract import retract
from pipeline.services import IngestServices
from tests.pipeline.pullkit import (
    DATASET,
    create_table,
    delete,
    person_id,
    upsert,
    write_contracts,
)

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


def _database(base: str, name: str, drop: bool = False) -> str:
    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """A fresh hub database and a department database (its own, as a department's would be)."""
    base = service_env()["HUB_DATABASE_URL"]
    names = [f"hub_pull_{secrets.token_hex(4)}", f"dept_{secrets.token_hex(4)}"]
    urls = [_database(base, n) for n in names]
    yield urls[0], urls[1]
    for n in names:
        _database(base, n, drop=True)


def _hub(tmp_path: Path, hub_url: str, source: str) -> tuple[Settings, IngestServices]:
    settings = services_settings(tmp_path).model_copy(update={"database_url": hub_url})
    return settings, ingest_services(settings, write_contracts(tmp_path / "contracts", source))


def _airflow_uri(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgres://", 1)


SQL_SOURCE = (
    "kind: sql\nconnection: dept_pg\ntable: public.residents\nwatermark: seq\ndeleted: is_deleted\n"
)

KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline.pull.connections import from_environment
    from pipeline.pull.run import pull
    hub = ingest_services(Settings(), Path(sys.argv[1]))  # the services' HUB_* settings
    def hook(step):
        if step == "check":
            os.kill(os.getpid(), signal.SIGKILL)
    pull(hub, "dept_residents", from_environment(), after_step=hook)
    """
)


def test_postgres_table_pulled_incrementally_with_tombstones(
    tmp_path: Path, databases: tuple[str, str]
) -> None:
    hub_url, dept_url = databases
    settings, hub = _hub(tmp_path, hub_url, SQL_SOURCE)
    dept: Engine = create_engine(dept_url)
    create_table(dept)
    env = {"AIRFLOW_CONN_DEPT_PG": _airflow_uri(dept_url)}
    conns = from_environment(env)
    upsert(dept, [(i, f"名{i}") for i in range(200)])
    first = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in first.runs] == [200] and first.position == "int:200"
    upsert(dept, [(5, "改5"), (300, "新300")])
    delete(dept, [7])
    second = pull(hub, DATASET, conns)
    assert [(r["rows_in"], r["withdrawn"]) for r in second.runs] == [(2, 1)]
    got = hub.library.field_values("population", "name")
    assert got[person_id(5)] == "改5" and got[person_id(300)] == "新300"
    assert person_id(7) not in got and len(got) == 200

    # killed after the check step, with the department changing rows meanwhile
    upsert(dept, [(i, f"再改{i}") for i in range(10, 20)])
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path / "contracts")],
        cwd=REPO,
        env={
            **os.environ,
            **service_env(),
            **env,
            "HUB_HOME": str(settings.home),
            "HUB_DATABASE_URL": hub_url,
            "HUB_KEY_PASSPHRASE": settings.key_passphrase,
        },
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    upsert(dept, [(10, "三改10")])
    while pull(hub, DATASET, conns).runs:
        pass
    with dept.connect() as conn:
        live = dict(
            conn.execute(text("SELECT id_number, name FROM residents WHERE NOT is_deleted")).all()
        )
    assert hub.library.field_values("population", "name") == live
    record = hub.library.person(person_id(10))
    assert record is not None
    assert [f.value for f in record.history["name"]] == ["名10", "再改10", "三改10"]

    # the department takes back the second pull: 5 and 300 fall back, 7 is back
    wrong = second.runs[0]["run_id"]
    retract(hub, wrong, "误发", "pub1", ledger_service(settings).append_many_in)
    after = hub.library.field_values("population", "name")
    assert after[person_id(5)] == "名5" and after[person_id(7)] == "名7"
    assert person_id(300) not in after
    dept.dispose()


def test_minio_prefix_files_pulled_once_each(tmp_path: Path, databases: tuple[str, str]) -> None:
    hub_url, _ = databases
    env = service_env()
    bucket = f"dept-exchange-{secrets.token_hex(4)}"
    client = Minio(
        env["HUB_MINIO_ENDPOINT"],
        access_key=env["HUB_MINIO_ACCESS_KEY"],
        secret_key=env["HUB_MINIO_SECRET_KEY"],
        secure=False,
    )
    client.make_bucket(bucket)
    source = f"kind: prefix\nconnection: dept_s3\nbucket: {bucket}\nprefix: ps/\n"
    _, hub = _hub(tmp_path, hub_url, source)
    uri = (
        f"aws://{quote(env['HUB_MINIO_ACCESS_KEY'], safe='')}:"
        f"{quote(env['HUB_MINIO_SECRET_KEY'], safe='')}@"
        f"?endpoint_url={quote('http://' + env['HUB_MINIO_ENDPOINT'], safe='')}"
    )
    conns = from_environment({"AIRFLOW_CONN_DEPT_S3": uri})

    def put(name: str, body: str) -> None:
        data = body.encode()
        client.put_object(bucket, name, io.BytesIO(data), len(data))

    put("ps/2026-03-01.csv", f"id_number,name\n{person_id(1)},甲\n{person_id(2)},乙\n")
    put("other/2026-03-01.csv", f"id_number,name\n{person_id(3)},丙\n")  # not under the prefix
    put("ps/2026-03-02.csv.tmp", "being written")
    first = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in first.runs] == [2]
    assert pull(hub, DATASET, conns).runs == []
    put("ps/2026-03-02.csv", f"id_number,name\n{person_id(1)},甲改\n")
    second = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in second.runs] == [1]
    assert hub.library.field_values("population", "name") == {
        person_id(1): "甲改",
        person_id(2): "乙",
    }
    for o in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, o.object_name or "")
    client.remove_bucket(bucket)
