"""Pulling a department's data (fast tier: a SQLite department database, a folder, an HTTP
server the test starts): incremental by watermark, tombstones, snapshots, crash safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, create_engine, text

from hub.settings import Settings
from hub.wiring import ingest_services
from pipeline.pull.connections import from_environment, parse_uri
from pipeline.pull.errors import PullError
from pipeline.pull.run import pull
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from tests.pipeline.pullkit import (
    DATASET,
    create_table,
    delete,
    hard_delete,
    person_id,
    upsert,
    write_contracts,
)

REPO = Path(__file__).resolve().parents[2]
SQL_SOURCE = """\
kind: sql
connection: dept_db
table: residents
watermark: seq
deleted: is_deleted
"""


@pytest.fixture
def dept(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    path = tmp_path / "dept.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    create_table(engine)
    yield engine, f"sqlite:///{path}"
    engine.dispose()


def services(settings: Settings, tmp_path: Path, source: str = SQL_SOURCE) -> IngestServices:
    return ingest_services(settings, write_contracts(tmp_path / "contracts", source))


def names(hub: IngestServices) -> dict[str, str]:
    return hub.library.field_values("population", "name")


def test_incremental_pulls_read_only_what_changed(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    hub = services(settings, tmp_path)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(i, f"名{i}") for i in range(20)])
    first = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in first.runs] == [20]
    assert first.position == "int:20"
    assert names(hub) == {person_id(i): f"名{i}" for i in range(20)}

    again = pull(hub, DATASET, conns)
    assert again.runs == [] and again.message == "nothing changed since the last pull"

    upsert(engine, [(3, "改名3"), (25, "新人25")])
    second = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in second.runs] == [2]  # only the changed rows were read
    assert second.position == "int:22"
    assert names(hub)[person_id(3)] == "改名3"
    assert names(hub)[person_id(25)] == "新人25"
    record = hub.library.person(person_id(3))
    assert record is not None
    assert [f.value for f in record.history["name"]] == ["名3", "改名3"]


def test_a_value_changed_back_is_a_new_change(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    hub = services(settings, tmp_path)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(1, "甲")])
    pull(hub, DATASET, conns)
    upsert(engine, [(1, "乙")])
    pull(hub, DATASET, conns)
    upsert(engine, [(1, "甲")])  # the same row content as the first pull: still a change
    third = pull(hub, DATASET, conns)
    assert third.runs and third.runs[0]["status"] == "published"
    assert names(hub)[person_id(1)] == "甲"


def test_tombstone_withdraws_the_value_and_falls_back(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    hub = services(settings, tmp_path)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    day1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    day3 = datetime(2026, 3, 3, 9, tzinfo=UTC)
    upsert(engine, [(1, "户籍名"), (2, "只在户籍")])
    pull(hub, DATASET, conns, received_at=day1)
    other = f"id_number,name\n{person_id(1)},人社名\n".encode()
    run_pipeline(hub, "other_names", other, "other.csv", received_at=day1)
    assert names(hub)[person_id(1)] == "户籍名"  # the authoritative source wins

    delete(engine, [1, 2])
    done = pull(hub, DATASET, conns, received_at=day3)
    assert [r["withdrawn"] for r in done.runs] == [2]
    assert [r["rows_in"] for r in done.runs] == [0]  # tombstones only
    now = hub.library.person(person_id(1))
    assert now is not None and now.value("name") == "人社名"  # falls back to the next source
    assert now.fields["name"].dataset == "other_names"
    before = hub.library.person(person_id(1), as_of=date(2026, 3, 2))
    assert before is not None and before.value("name") == "户籍名"  # history as it was known
    assert [f.value for f in now.history["name"]] == ["户籍名", "人社名"]
    # the subject only the deleting source knew is gone from the library
    assert person_id(2) not in names(hub)
    assert person_id(2) not in hub.library.subjects("population")
    assert not hub.library.person_exists(person_id(2))
    gone = hub.library.person(person_id(2))
    assert gone is not None and gone.fields == {} and gone.history["name"][0].value == "只在户籍"
    # the department re-creates the record: it is back
    upsert(engine, [(2, "又回来")])
    pull(hub, DATASET, conns)
    assert names(hub)[person_id(2)] == "又回来"
    assert hub.library.person_exists(person_id(2))


def test_snapshot_source_compares_with_the_previous_snapshot(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    source = "kind: sql\nconnection: dept_db\nquery: SELECT id_number, name, mobile FROM residents\nsnapshot: true\n"
    hub = services(settings, tmp_path, source)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(i, f"名{i}") for i in range(10)])
    assert [r["rows_in"] for r in pull(hub, DATASET, conns).runs] == [10]
    assert pull(hub, DATASET, conns).runs == []  # the same snapshot: nothing changed
    upsert(engine, [(4, "改4"), (11, "新11")])
    hard_delete(engine, [7])
    changed = pull(hub, DATASET, conns)
    assert [(r["rows_in"], r["withdrawn"]) for r in changed.runs] == [(2, 1)]
    got = names(hub)
    assert got[person_id(4)] == "改4" and got[person_id(11)] == "新11"
    assert person_id(7) not in got and len(got) == 10


def test_folder_source_ingests_each_new_file_once(settings: Settings, tmp_path: Path) -> None:
    drop = tmp_path / "exchange"
    drop.mkdir()
    hub = services(settings, tmp_path, f"kind: prefix\nfolder: {drop}\n")
    (drop / "2026-03-01.csv").write_text(f"id_number,name\n{person_id(1)},甲\n", encoding="utf-8")
    (drop / "2026-03-02.csv.part").write_text("still being written", encoding="utf-8")
    first = pull(hub, DATASET, from_environment({}))
    assert [r["rows_in"] for r in first.runs] == [1]
    assert pull(hub, DATASET, from_environment({})).runs == []
    (drop / "2026-03-02.csv.part").rename(drop / "2026-03-02.csv")
    (drop / "2026-03-02.csv").write_text(f"id_number,name\n{person_id(1)},乙\n", encoding="utf-8")
    second = pull(hub, DATASET, from_environment({}))
    assert [r["status"] for r in second.runs] == ["published"]
    assert names(hub)[person_id(1)] == "乙"


class _Pages(BaseHTTPRequestHandler):
    rows: ClassVar[list[dict[str, Any]]] = []
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        if self.headers.get("Authorization") != "Basic ZGVwdDpzM2NyZXQ=":  # dept:s3cret
            self.send_response(401)
            self.end_headers()
            return
        query = parse_qs(urlsplit(self.path).query)
        since = int(query.get("since", ["0"])[0])
        page = int(query.get("page", ["0"])[0])
        rows = [r for r in self.rows if r["seq"] > since]
        part = rows[page * 2 : page * 2 + 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        if page * 2 + 2 < len(rows):
            self.send_header("Link", f'</rows?since={since}&page={page + 1}>; rel="next"')
        self.end_headers()
        self.wfile.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_source() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Pages.rows, _Pages.asked = [], []
    yield f"http://dept:s3cret@127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_source_follows_pages_from_the_watermark(
    settings: Settings, tmp_path: Path, http_source: str
) -> None:
    source = "kind: http\nconnection: dept_api\npath: /rows\nwatermark: seq\ndeleted: gone\n"
    hub = services(settings, tmp_path, source)
    conns = from_environment({"AIRFLOW_CONN_DEPT_API": http_source})
    _Pages.rows = [
        {"id_number": person_id(i), "name": f"名{i}", "seq": i, "gone": False} for i in range(1, 6)
    ]
    first = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in first.runs] == [5]  # three pages of two rows
    assert len(_Pages.asked) == 3 and first.position == "int:5"
    _Pages.rows.append({"id_number": person_id(2), "name": "x", "seq": 6, "gone": True})
    _Pages.asked.clear()
    second = pull(hub, DATASET, conns)
    assert _Pages.asked == ["/rows?since=5"]
    assert [r["withdrawn"] for r in second.runs] == [1]
    assert person_id(2) not in names(hub) and len(names(hub)) == 4


def test_http_source_refusal_is_named_without_secrets(
    settings: Settings, tmp_path: Path, http_source: str
) -> None:
    source = "kind: http\nconnection: dept_api\npath: /rows\nwatermark: seq\n"
    hub = services(settings, tmp_path, source)
    wrong = http_source.replace("s3cret", "wrong")
    with pytest.raises(PullError) as info:
        pull(hub, DATASET, from_environment({"AIRFLOW_CONN_DEPT_API": wrong}))
    assert "HTTP 401" in str(info.value) and "wrong" not in str(info.value)


def test_missing_connection_and_columns_are_named(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    hub = services(settings, tmp_path)
    with pytest.raises(PullError, match="set AIRFLOW_CONN_DEPT_DB"):
        pull(hub, DATASET, from_environment({}))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE residents RENAME COLUMN mobile TO phone"))
    with pytest.raises(PullError, match="no column 'mobile'"):
        pull(hub, DATASET, from_environment({"AIRFLOW_CONN_DEPT_DB": url}))
    assert hub.library.list_runs() == []  # nothing was landed


def test_airflow_uri_forms() -> None:
    pg = parse_uri("x", "postgres://u%40d:p%2Fw@db.example:5433/dept?sslmode=require")
    assert pg.sqlalchemy_url() == (
        "postgresql+psycopg://u%40d:p%2Fw@db.example:5433/dept?sslmode=require"
    )
    assert "p/w" not in repr(pg)  # the password is kept out of reprs and logs
    js = parse_uri(
        "y",
        '{"conn_type": "aws", "login": "k", "password": "s", '
        '"extra": {"endpoint_url": "http://127.0.0.1:9000"}}',
    )
    assert js.s3() == ("127.0.0.1:9000", "k", "s", False)
    assert parse_uri("z", "sqlite:////srv/dept.db").sqlalchemy_url() == "sqlite:////srv/dept.db"


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline.pull.connections import from_environment
    from pipeline.pull.run import pull
    home, contracts, at = sys.argv[1:4]
    hub = ingest_services(Settings(home=Path(home)), Path(contracts))
    def hook(step):
        if step == at:
            os.kill(os.getpid(), signal.SIGKILL)
    pull(hub, "dept_residents", from_environment(), after_step=hook)
    """
)


@pytest.mark.parametrize("step", ["read", "land", "check", "quarantine", "merge", "publish"])
def test_pull_killed_at_any_step_neither_skips_nor_duplicates(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str], step: str
) -> None:
    engine, url = dept
    hub = services(settings, tmp_path)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(i, f"v1-{i}") for i in range(30)])
    pull(hub, DATASET, conns)
    upsert(engine, [(i, f"v2-{i}") for i in range(10)] + [(i, f"v2-{i}") for i in range(30, 40)])
    delete(engine, [20, 21])
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, str(settings.home), str(tmp_path / "contracts"), step],
        cwd=REPO,
        env={**os.environ, "AIRFLOW_CONN_DEPT_DB": url},
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    # the department goes on working while the hub is down
    upsert(engine, [(i, f"v3-{i}") for i in range(5)] + [(40, "v3-40")])
    while pull(hub, DATASET, conns).runs:
        pass
    hub = services(settings, tmp_path)
    with engine.connect() as conn:
        live = dict(
            conn.execute(text("SELECT id_number, name FROM residents WHERE NOT is_deleted")).all()
        )
        top = conn.execute(text("SELECT max(seq) FROM residents")).scalar_one()
    assert names(hub) == live  # nothing skipped, the deleted gone
    assert hub.library.pull_position(DATASET) == f"int:{top}"
    for i in range(41):
        record = hub.library.person(person_id(i))
        assert record is not None
        told = [f.value for f in record.history["name"]]
        assert len(told) == len(set(told)), (i, told)  # no change merged twice
        assert told == sorted(told), (i, told)  # in the order they were made


def test_a_failed_batch_does_not_move_the_watermark(
    settings: Settings, tmp_path: Path, dept: tuple[Engine, str]
) -> None:
    engine, url = dept
    folder = write_contracts(tmp_path / "contracts", SQL_SOURCE)
    strict = (folder / "dept.yaml").read_text(encoding="utf-8")
    strict = strict.replace(
        "cadence_days: 1\n", "cadence_days: 1\nthresholds: {conformity: 0.9}\non_breach: fail\n"
    )
    (folder / "dept.yaml").write_text(strict, encoding="utf-8")
    hub = ingest_services(settings, folder)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(1, "甲"), (2, "乙"), (3, "丙")])
    with engine.begin() as conn:  # a row whose ID number is wrong: a quarter of the batch
        conn.execute(
            text(
                "INSERT INTO residents (id_number, name, seq) VALUES ('340102196101010011', '错', 4)"
            )
        )
    with pytest.raises(Exception, match="conformity"):
        pull(hub, DATASET, conns)
    assert hub.library.pull_position(DATASET) is None  # nothing merged: nothing moved
    with engine.begin() as conn:  # the department deletes the wrong row
        conn.execute(text("UPDATE residents SET is_deleted = TRUE, seq = 5 WHERE name = '错'"))
    done = pull(hub, DATASET, conns)
    assert [r["rows_in"] for r in done.runs] == [3]  # the good rows read again, not skipped
    assert names(hub) == {person_id(1): "甲", person_id(2): "乙", person_id(3): "丙"}
    assert done.position == "int:5"
