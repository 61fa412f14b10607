"""How services-tier tests reach the loopback servers started by ``scripts/services.sh up``.

``service_env()`` reads ``var/services/env``; ``services_settings(tmp_path)`` builds a
:class:`Settings` that points at PostgreSQL (a fresh database per test session, dropped at exit)
and MinIO, with ``HUB_HOME`` in the test's temporary folder.
"""

from __future__ import annotations

import atexit
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench._common import services_env
from hub.settings import PROJECT_ROOT, Settings

ENV_FILE = PROJECT_ROOT / "var" / "services" / "env"


class ServicesNotRunningError(RuntimeError):
    """The loopback services are not up (no ``var/services/env``)."""


def service_env(path: Path = ENV_FILE) -> dict[str, str]:
    """The ``export NAME='value'`` lines of the services env file, as a dict."""
    if not path.is_file():
        raise ServicesNotRunningError(
            f"{path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path} "
            "is missing: run `make services-up` (scripts/services.sh up) first"
        )
    return services_env(path)


def libpq_url(sqlalchemy_url: str) -> str:
    """The same connection as a plain libpq URL (for ``psycopg.connect``)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


_session_db_url: str | None = None


def session_database_url(env: dict[str, str] | None = None) -> str:
    """A PostgreSQL database created for this test session (same for every call), dropped at exit."""
    global _session_db_url
    if _session_db_url is None:
        import psycopg

        env = env or service_env()
        base = env["HUB_DATABASE_URL"]
        name = f"hub_test_{secrets.token_hex(4)}"
        with psycopg.connect(libpq_url(base), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _session_db_url = base.rsplit("/", 1)[0] + "/" + name
        atexit.register(_drop_database, base, name)
    return _session_db_url


@contextmanager
def own_database(env: dict[str, str] | None = None) -> Iterator[str]:
    """A PostgreSQL database of one test's own (its SQLAlchemy URL), dropped after: for tests
    that count what a whole table holds, which the session database shares."""
    import psycopg

    base = (env or service_env())["HUB_DATABASE_URL"]
    name = f"hub_own_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        _drop_database(base, name)


def _drop_database(base_url: str, name: str) -> None:
    import psycopg

    for _ in range(10):
        try:
            with psycopg.connect(libpq_url(base_url), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            # FORCE may not end an autovacuum worker (the superuser's) busy in the database
            time.sleep(1)
        except psycopg.OperationalError:
            return  # the server is already down; the next initdb-free `up` keeps a stray test DB


def services_settings(tmp_path: Path) -> Settings:
    """Settings for the services tier: PostgreSQL (session database), MinIO, Airflow, SoftHSM2."""
    env = service_env()
    s = Settings(
        home=tmp_path / "hub",
        key_passphrase="test-passphrase",
        database_url=session_database_url(env),
        objects="minio",
        minio_endpoint=env["HUB_MINIO_ENDPOINT"],
        minio_access_key=env["HUB_MINIO_ACCESS_KEY"],
        minio_secret_key=env["HUB_MINIO_SECRET_KEY"],
        minio_secure=False,
        airflow_api_url=env.get("HUB_AIRFLOW_API_URL", ""),
        airflow_username=env.get("HUB_AIRFLOW_USERNAME", ""),
        airflow_password=env.get("HUB_AIRFLOW_PASSWORD", ""),
        pkcs11_module=env.get("HUB_PKCS11_MODULE", ""),
        pkcs11_token=env.get("HUB_PKCS11_TOKEN", ""),
        pkcs11_pin=env.get("HUB_PKCS11_PIN", ""),
    )
    s.ensure_dirs()
    return s


def scheduler_settings() -> Settings:
    """The settings the scheduler's tasks run with (its HUB_* variables), plus the Airflow API."""
    env = service_env()
    airflow_env = service_env(ENV_FILE.parent / "airflow.env")
    missing = [
        n for n in ("HUB_HOME", "HUB_DATABASE_URL", "HUB_KEY_PASSPHRASE") if n not in airflow_env
    ]
    assert not missing, (
        f"var/services/airflow.env lacks {missing}: the scheduler would write into the embedded "
        "var/; restart Airflow with the current scripts/services/airflow.sh"
    )
    s = Settings(
        home=Path(airflow_env["HUB_HOME"]),
        key_passphrase=airflow_env["HUB_KEY_PASSPHRASE"],
        database_url=airflow_env["HUB_DATABASE_URL"],
        objects="minio",
        minio_endpoint=airflow_env["HUB_MINIO_ENDPOINT"],
        minio_access_key=airflow_env["HUB_MINIO_ACCESS_KEY"],
        minio_secret_key=airflow_env["HUB_MINIO_SECRET_KEY"],
        minio_secure=False,
        ledger_anchor="embedded",
        airflow_api_url=env["HUB_AIRFLOW_API_URL"],
        airflow_username=env["HUB_AIRFLOW_USERNAME"],
        airflow_password=env["HUB_AIRFLOW_PASSWORD"],
    )
    # the scheduler and this test are two processes of one deployment: same database and store
    assert s.db_url == env["HUB_DATABASE_URL"]
    assert s.minio_endpoint == env["HUB_MINIO_ENDPOINT"]
    s.ensure_dirs()
    return s


@contextmanager
def airflow_api(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the loopback Airflow REST API, logged in (bearer token)."""
    base = settings.airflow_api_url.rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as af:
        tok = af.post(
            "/auth/token",
            json={"username": settings.airflow_username, "password": settings.airflow_password},
        )
        tok.raise_for_status()
        af.headers["Authorization"] = f"Bearer {tok.json()['access_token']}"
        yield af


def airflow_task_states(settings: Settings, dag_run_id: str) -> dict[str, str | None]:
    """task id -> state of one finished ``ingest_ps_household`` run, from the Airflow REST API."""
    with airflow_api(settings) as af:
        path = f"/api/v2/dags/ingest_ps_household/dagRuns/{dag_run_id}"
        # publish marks the library run published a moment before the task reports success
        deadline = time.monotonic() + 60
        while True:
            dag_run = af.get(path)
            dag_run.raise_for_status()
            if dag_run.json()["state"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert dag_run.json()["state"] == "success", dag_run.json()
        r = af.get(f"{path}/taskInstances")
        r.raise_for_status()
    return {ti["task_id"]: ti["state"] for ti in r.json()["task_instances"]}


UPLOAD_PURPOSE = "household-publishing"


def household_publisher(app: Any, label: str) -> dict[str, str]:
    """Register a department client allowed to upload ``ps_household``; its request headers."""
    import datetime as dt

    clients = app.state.hub.clients
    client_id = f"{label}-{time.time_ns()}"
    key = clients.add(client_id, f"household system ({label})", rate_limit=1000)
    clients.grant(
        client_id,
        "datasets",
        UPLOAD_PURPOSE,
        dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        ["ps_household"],
    )
    return {"Authorization": f"Bearer {key}", "X-Purpose": UPLOAD_PURPOSE}


def upload_household(http: Any, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """Upload a household file through the API; the scheduler must have started its DAG."""
    r = http.post(
        "/v1/datasets/ps_household/uploads?filename=household.csv", content=data, headers=headers
    )
    assert r.status_code == 202, r.text
    upload: dict[str, Any] = r.json()
    assert upload["status"] == "landed"
    assert upload["started_by"] == "airflow" and upload["dag_run_id"], upload
    return upload


def wait_for_run(http: Any, headers: dict[str, str], run_id: str, timeout: float) -> dict[str, Any]:
    """Follow an ingest run through the API until it is published or failed (or time is up)."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {"status": "unknown"}
    while time.monotonic() < deadline:
        r = http.get(f"/v1/runs/{run_id}", headers=headers)
        assert r.status_code == 200, r.text
        run = r.json()
        if run["status"] in ("published", "failed"):
            break
        time.sleep(3)
    return run


def ltv_service() -> tuple[str, Settings]:
    """The TSA/OCSP/CRL service of ``scripts/services.sh up ltv``: its base URL and the settings
    of the hub it speaks for (its own SQLite, objects and keys under ``var/services/ltv``), so a
    test can make seals there and ask the running service about them."""
    env = service_env()
    if "HUB_LTV_URL" not in env:
        raise ServicesNotRunningError(
            "var/services/env names no LTV service: run `scripts/services.sh up ltv`"
        )
    home = Path(env["HUB_SERVICES_LTV_HOME"])
    # every store named, so no HUB_* variable of the caller's shell points elsewhere
    settings = Settings(
        home=home,
        key_passphrase=env["HUB_SERVICES_LTV_KEY_PASSPHRASE"],
        database_url=f"sqlite:///{home / 'hub.db'}",
        objects="local",
        objects_dir=home / "objects",
        keys_dir=home / "keys",
        ledger_anchor="embedded",
        crypto_profile="standard",
        ltv_url=env["HUB_LTV_URL"],
    )
    return env["HUB_LTV_URL"], settings


def api_cluster() -> tuple[str, dict[str, str]]:
    """The API cluster of ``scripts/services.sh up api``: HAProxy's URL and the environment that
    runs ``scripts/services.sh`` against the same loopback services (their ports, from
    ``var/services/env``), e.g. to bring a killed instance back."""
    import os
    from urllib.parse import urlsplit

    env = service_env()
    if "HUB_API_CLUSTER_URL" not in env:
        raise ServicesNotRunningError(
            "var/services/env names no API cluster: run `scripts/services.sh up api`"
        )
    ports = {
        "HUB_SERVICES_PG_PORT": str(urlsplit(libpq_url(env["HUB_DATABASE_URL"])).port),
        "HUB_SERVICES_MINIO_PORT": env["HUB_MINIO_ENDPOINT"].rsplit(":", 1)[1],
        "HUB_SERVICES_API_PORT": str(urlsplit(env["HUB_API_CLUSTER_URL"]).port),
        "HUB_SERVICES_API_INSTANCES": env.get("HUB_SERVICES_API_INSTANCES", "2"),
    }
    if env.get("HUB_AIRFLOW_API_URL"):
        ports["HUB_SERVICES_AIRFLOW_PORT"] = str(urlsplit(env["HUB_AIRFLOW_API_URL"]).port)
    return env["HUB_API_CLUSTER_URL"], {**os.environ, **ports}


def replica_database_url(url: str, env: dict[str, str] | None = None) -> str:
    """The same database as ``url`` (a primary's), read through the streaming replica of
    ``scripts/services.sh up replica`` (its URL from ``var/services/env``)."""
    env = env or service_env()
    if "HUB_DATABASE_REPLICA_URL" not in env:
        raise ServicesNotRunningError(
            "var/services/env names no replica: run `scripts/services.sh up replica`"
        )
    return env["HUB_DATABASE_REPLICA_URL"].rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1]


def replica_superuser_url(env: dict[str, str] | None = None) -> str:
    """A libpq URL of the replica's superuser (to pause its replay in a test)."""
    from urllib.parse import urlsplit

    env = env or service_env()
    port = urlsplit(libpq_url(env["HUB_DATABASE_REPLICA_URL"])).port
    secret = (ENV_FILE.parent / "secrets" / "pg_superuser").read_text(encoding="utf-8").strip()
    return f"postgresql://postgres:{secret}@127.0.0.1:{port}/postgres"


def replica_script(action: str, *, crash: bool = False) -> None:
    """``scripts/services.sh ACTION replica`` on the ports of ``var/services/env`` (``crash``:
    stopped as a crash would, its sessions cut without a goodbye)."""
    import os
    import subprocess
    from urllib.parse import urlsplit

    env = service_env()
    ports = {
        "HUB_SERVICES_PG_PORT": str(urlsplit(libpq_url(env["HUB_DATABASE_URL"])).port),
        "HUB_SERVICES_PG_REPLICA_PORT": str(
            urlsplit(libpq_url(env["HUB_DATABASE_REPLICA_URL"])).port
        ),
        "HUB_SERVICES_MINIO_PORT": env["HUB_MINIO_ENDPOINT"].rsplit(":", 1)[1],
    }
    # `up` writes var/services/env again: with the ports of what else runs
    if env.get("HUB_AIRFLOW_API_URL"):
        ports["HUB_SERVICES_AIRFLOW_PORT"] = str(urlsplit(env["HUB_AIRFLOW_API_URL"]).port)
    if env.get("HUB_API_CLUSTER_URL"):
        ports["HUB_SERVICES_API_PORT"] = str(urlsplit(env["HUB_API_CLUSTER_URL"]).port)
    if crash:
        ports["HUB_SERVICES_PG_STOP_MODE"] = "immediate"
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "services.sh"), action, "replica"],
        env={**os.environ, **ports},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
