"""Each loopback service started by ``scripts/services.sh up`` answers real requests."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from minio import Minio
from minio.error import S3Error
from servicekit import libpq_url, service_env, services_settings
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return service_env()


def _minio(env: dict[str, str]) -> Minio:
    return Minio(
        env["HUB_MINIO_ENDPOINT"],
        access_key=env["HUB_MINIO_ACCESS_KEY"],
        secret_key=env["HUB_MINIO_SECRET_KEY"],
        secure=False,
    )


def test_hub_database_round_trip(tmp_path: Path) -> None:
    settings = services_settings(tmp_path)
    engine = create_engine(settings.db_url)
    with engine.begin() as conn:
        conn.execute(text("create table probe (id int primary key, name text)"))
        conn.execute(text("insert into probe values (1, '张三')"))
    with engine.connect() as conn:
        assert conn.execute(text("select name from probe where id = 1")).scalar_one() == "张三"
        assert conn.execute(text("select current_setting('server_encoding')")).scalar() == "UTF8"
    engine.dispose()


def test_airflow_database_round_trip(env: dict[str, str]) -> None:
    with psycopg.connect(libpq_url(env["HUB_AIRFLOW_DATABASE_URL"])) as conn:
        # `airflow db migrate` has run: Airflow's own tables exist in its database.
        row = conn.execute("select count(*) from alembic_version").fetchone()
        assert row is not None and row[0] == 1
        assert conn.execute("select current_user").fetchone() == ("airflow",)


def test_minio_put_get_versioned(env: dict[str, str]) -> None:
    client = _minio(env)
    key = f"probe/{secrets.token_hex(6)}.txt"
    client.put_object("hub", key, io.BytesIO(b"first"), 5)
    client.put_object("hub", key, io.BytesIO(b"second"), 6)
    assert client.get_object("hub", key).read() == b"second"
    versions = [o for o in client.list_objects("hub", prefix=key, include_version=True)]
    assert len(versions) == 2  # versioning keeps the overwritten copy


@pytest.mark.parametrize("bucket", ["landing", "licences"])
def test_minio_object_lock_refuses_to_delete_locked_version(
    env: dict[str, str], bucket: str
) -> None:
    client = _minio(env)
    key = f"probe/{secrets.token_hex(6)}.csv"
    result = client.put_object(bucket, key, io.BytesIO(b"id,name\n"), 8)
    retention = client.get_object_retention(bucket, key, version_id=result.version_id)
    assert retention is not None and retention.retain_until_date > datetime.now(UTC)
    with pytest.raises(S3Error) as refused:
        client.remove_object(bucket, key, version_id=result.version_id)
    # MinIO answers InvalidRequest "Object is WORM protected and cannot be overwritten".
    assert "WORM protected" in (refused.value.message or "")
    assert client.get_object(bucket, key, version_id=result.version_id).read() == b"id,name\n"


def test_minio_work_files_expire_and_nothing_else(env: dict[str, str]) -> None:
    """The hub bucket's lifecycle expires the ingest's work files only: quarantined rows and
    the other working objects stay."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "services"))
    from minio_buckets import WORK_EXPIRY_DAYS, WORK_PREFIX

    config = _minio(env).get_bucket_lifecycle("hub")
    assert config is not None
    (rule,) = config.rules
    assert rule.status == "Enabled" and rule.rule_filter is not None
    assert rule.rule_filter.prefix == WORK_PREFIX == "work/"
    assert rule.expiration is not None and rule.expiration.days == WORK_EXPIRY_DAYS
    assert rule.noncurrent_version_expiration is not None
    assert rule.noncurrent_version_expiration.noncurrent_days == 1


def test_softhsm_token_visible(env: dict[str, str]) -> None:
    assert Path(env["HUB_PKCS11_MODULE"]).is_file()
    out = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={**os.environ, "SOFTHSM2_CONF": env["SOFTHSM2_CONF"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    labels = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Label:" in line]
    assert env["HUB_PKCS11_TOKEN"] in labels


def _health(env: dict[str, str]) -> dict[str, dict[str, str | None]]:
    url = env["HUB_AIRFLOW_API_URL"] + "/api/v2/monitor/health"
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: dict[str, dict[str, str | None]] = json.load(resp)
    return data


def test_airflow_api_server_and_scheduler_heartbeat(env: dict[str, str]) -> None:
    health = _health(env)
    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[part]["status"] == "healthy", health
    beat = health["scheduler"]["latest_scheduler_heartbeat"]
    assert beat is not None
    age = datetime.now(UTC) - datetime.fromisoformat(beat)
    assert age.total_seconds() < 60


def test_airflow_api_accepts_admin_credentials(env: dict[str, str]) -> None:
    body = json.dumps(
        {"username": env["HUB_AIRFLOW_USERNAME"], "password": env["HUB_AIRFLOW_PASSWORD"]}
    ).encode()
    req = urllib.request.Request(
        env["HUB_AIRFLOW_API_URL"] + "/auth/token",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        token = json.load(resp)["access_token"]
    req = urllib.request.Request(
        env["HUB_AIRFLOW_API_URL"] + "/api/v2/dags?limit=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert "total_entries" in json.load(resp)
