"""The erasure-coded MinIO of ``scripts/services.sh up minio`` (four drives, EC:2): a drive lost
under load loses no object and stops neither reads nor writes nor the hub's readiness; an empty
folder put back in its place is healed; object lock holds on the erasure-coded deployment.

These tests remove a drive folder of the running deployment (only one under this checkout's
``var/services/minio``) and wait until the server has healed it before they end.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from minio import Minio
from minio.credentials import StaticProvider
from minio.error import S3Error
from minio.minioadmin import MinioAdmin
from servicekit import service_env

from api.routers import health
from hub.settings import PROJECT_ROOT, Settings
from hub.wiring import api_app
from storage.objects import (
    ObjectExistsError,
    ObjectStore,
    ObjectStoreUnavailableError,
    object_store,
)

pytestmark = pytest.mark.services

DRIVES_HOME = PROJECT_ROOT / "var" / "services" / "minio"
WAIT = 180.0  # seconds a wait on the server may take before the test gives up (not asserted)


def _minio(env: dict[str, str]) -> Minio:
    return Minio(
        env["HUB_MINIO_ENDPOINT"],
        access_key=env["HUB_MINIO_ACCESS_KEY"],
        secret_key=env["HUB_MINIO_SECRET_KEY"],
        secure=False,
    )


def _admin(env: dict[str, str]) -> MinioAdmin:
    """MinIO's admin API over HTTP from the ``minio`` SDK: no ``mc`` binary involved."""
    creds = StaticProvider(env["HUB_MINIO_ACCESS_KEY"], env["HUB_MINIO_SECRET_KEY"])
    return MinioAdmin(endpoint=env["HUB_MINIO_ENDPOINT"], credentials=creds, secure=False)


def _info(admin: MinioAdmin) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(admin.info())
    return info


def _drives(admin: MinioAdmin) -> dict[Path, dict[str, Any]]:
    """Each drive of the deployment by its folder, with its state from the admin info API."""
    return {
        Path(d["path"]): d for server in _info(admin)["servers"] for d in server.get("drives", [])
    }


def _wait(what: str, ready: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {timeout:g} s for {what}")
        time.sleep(0.5)


def _break(drive: Path) -> None:
    """The drive and every shard on it are gone, and its path is unusable (a file in place of
    the folder). The folder is renamed away at once (deleting file by file races the server's
    writes) and wiped after. A folder left missing is created again by the server within
    seconds, then formatted and healed, which would end a degraded phase before it is
    observed: hence the file."""
    pulled: list[Path] = []
    try:
        while True:
            pulled.append(drive.with_name(f".pulled-{drive.name}-{secrets.token_hex(4)}"))
            drive.rename(pulled[-1])
            try:
                os.close(os.open(drive, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return
            except FileExistsError:
                continue  # the server created the folder again since the rename: again
    finally:
        for folder in pulled:
            shutil.rmtree(folder)


def _settings(tmp_path: Path, env: dict[str, str]) -> Settings:
    """A hub on the services tier's MinIO (its own SQLite: only the object store is under test)."""
    s = Settings(
        home=tmp_path / "hub",
        key_passphrase="test-passphrase",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        objects="minio",
        minio_endpoint=env["HUB_MINIO_ENDPOINT"],
        minio_access_key=env["HUB_MINIO_ACCESS_KEY"],
        minio_secret_key=env["HUB_MINIO_SECRET_KEY"],
        minio_secure=False,
    )
    s.ensure_dirs()
    return s


@dataclass
class Load:
    """A client writing new objects and reading back earlier ones through the hub's adapter."""

    store: ObjectStore
    prefix: str
    written: dict[str, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reads: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            # small objects are kept inline in MinIO's metadata, larger ones as erasure-coded parts
            size = 2_000 if i % 2 else 300_000
            key = f"{self.prefix}/{i:05d}"
            data = secrets.token_bytes(size)
            try:
                self.store.put(key, data)
                with self.lock:
                    self.written[key] = data
                    items = list(self.written.items())
                earlier = items[len(items) // 2]  # an object written a while ago
                if self.store.get(earlier[0]) != earlier[1]:
                    self.errors.append(f"{earlier[0]}: read back different bytes")
                with self.lock:
                    self.reads += 1
            except Exception as exc:  # every failure is a finding of the test
                self.errors.append(f"{key}: {type(exc).__name__}: {exc}")
            time.sleep(0.01)  # a steady client, not a benchmark (the machine is shared)

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.written), self.reads


@pytest.fixture
def env() -> dict[str, str]:
    return service_env()


@pytest.fixture
def load(tmp_path: Path, env: dict[str, str]) -> Iterator[Load]:
    work = Load(object_store(_settings(tmp_path, env)), f"ec-probe/{secrets.token_hex(4)}")
    thread = threading.Thread(target=work.run, name="object-load", daemon=True)
    thread.start()
    yield work
    work.stop.set()
    thread.join(timeout=60)
    # leave the server as we found it: the probe's objects and their versions go
    client = _minio(env)
    for obj in client.list_objects("hub", prefix=work.prefix, recursive=True, include_version=True):
        client.remove_object("hub", str(obj.object_name), version_id=obj.version_id)


def _erasure_drives(admin: MinioAdmin) -> dict[Path, dict[str, Any]]:
    """The deployment's drives, checked to be this checkout's erasure-coded set, all healthy."""
    info = _info(admin)
    backend = info["backend"]
    assert backend["backendType"] == "Erasure", backend
    assert backend["standardSCParity"] >= 1 and backend["totalDrivesPerSet"][0] >= 4, backend
    drives = _drives(admin)
    assert len(drives) >= 4
    assert all(path.is_relative_to(DRIVES_HOME) for path in drives), (
        "the MinIO under test serves drives outside var/services/minio of this checkout; "
        "run `scripts/services.sh up minio` from it"
    )
    return drives


def test_drive_lost_under_load_loses_nothing_and_heals(
    env: dict[str, str], tmp_path: Path, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = _admin(env)
    drives = _erasure_drives(admin)
    _wait("every drive to be ok", lambda: all(d["state"] == "ok" for d in _drives(admin).values()))
    # a department's delivery, locked in the landing bucket before the drive goes
    landing = _minio(env)
    landed = landing.put_object(
        "landing", f"ec-probe/{secrets.token_hex(4)}.csv", io.BytesIO(b"id,name\n"), 8
    )
    _wait("the load to write", lambda: load.count()[0] >= 20)

    victim = sorted(drives)[1]
    _break(victim)
    try:
        _wait("MinIO to see the drive gone", lambda: _drives(admin)[victim]["state"] != "ok")
        written, reads = load.count()
        # the load goes on while the drive is gone: new objects written, earlier ones read
        _wait(
            "writes and reads with a drive gone",
            lambda: load.count()[0] >= written + 30 and load.count()[1] >= reads + 30,
        )
        assert not load.errors, load.errors[:5]

        # the hub's readiness stays up, and says the store is degraded
        monkeypatch.setattr(health, "READY_TTL", 0.0)
        app = api_app(_settings(tmp_path / "api", env), background=False)
        with TestClient(app) as api:
            r = api.get("/v1/health/ready")
        assert r.status_code == 200, r.text
        assert r.json()["degraded"] == ["objects"], r.text
        assert r.json()["objects"] == {
            "ok": True,
            "detail": f"degraded: 1 of {len(drives)} drives offline; reads and writes go on",
        }

        # the locked delivery still reads, and still cannot be deleted
        assert landing.get_object("landing", landed.object_name).read() == b"id,name\n"
        with pytest.raises(S3Error):
            landing.remove_object("landing", landed.object_name, version_id=landed.version_id)

        # a new, empty drive in its place: MinIO formats it and heals every object onto it
        victim.unlink()
        victim.mkdir()
        _wait(
            "the new drive to be healed",
            lambda: (
                _drives(admin)[victim]["state"] == "ok"
                and not _drives(admin)[victim].get("healing")
            ),
        )
        bucket_dir = victim / "hub"
        _wait(
            "every object's share back on the new drive",
            lambda: all((bucket_dir / key / "xl.meta").is_file() for key in list(load.written)),
        )
        with TestClient(app) as api:
            ready = api.get("/v1/health/ready").json()
        assert ready["degraded"] == [] and ready["objects"] == {"ok": True, "detail": ""}
    finally:
        if victim.is_file():  # never leave the deployment a drive short
            victim.unlink()
        victim.mkdir(exist_ok=True)
    load.stop.set()
    assert not load.errors, load.errors[:5]
    store = load.store
    lost = [key for key, data in list(load.written.items()) if store.get(key) != data]
    assert lost == [], f"{len(lost)} of {len(load.written)} objects lost or changed"
    assert (victim / "landing" / landed.object_name / "xl.meta").is_file()
    assert all(d["state"] == "ok" for d in _drives(admin).values())


def test_object_lock_holds_on_the_erasure_coded_deployment(
    env: dict[str, str], tmp_path: Path
) -> None:
    _erasure_drives(_admin(env))
    store = object_store(_settings(tmp_path, env))
    key = f"landing/ec-probe/{secrets.token_hex(4)}.csv"
    assert store.put(key, b"id,name\n1,first\n")
    # the hub's adapter refuses to replace a delivery
    with pytest.raises(ObjectExistsError):
        store.put(key, b"id,name\n1,changed\n")

    client = _minio(env)
    versions = list(client.list_objects("landing", prefix=key, include_version=True))
    assert len(versions) == 1
    first = versions[0].version_id
    # S3 itself: deleting the locked version is refused (WORM) ...
    with pytest.raises(S3Error) as refused:
        client.remove_object("landing", key, version_id=first)
    assert refused.value.code in {"AccessDenied", "InvalidRequest"}, refused.value.code
    # ... and an overwrite only adds a version: the locked one keeps its bytes
    client.put_object("landing", key, io.BytesIO(b"id,name\n1,changed\n"), 18)
    original = client.get_object("landing", key, version_id=first)
    try:
        assert original.read() == b"id,name\n1,first\n"
    finally:
        original.close()
        original.release_conn()
    with pytest.raises(S3Error):
        client.remove_object("landing", key, version_id=first)


def test_two_drives_lost_keep_reads_and_refuse_writes_at_once(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = _admin(env)
    drives = _erasure_drives(admin)
    _wait("every drive to be ok", lambda: all(d["state"] == "ok" for d in _drives(admin).values()))
    settings = _settings(tmp_path, env)
    store = object_store(settings)
    prefix = f"ec-probe/{secrets.token_hex(4)}"
    kept = {f"{prefix}/{i:03d}": secrets.token_bytes(300_000) for i in range(10)}
    store.put_many(list(kept.items()))

    lost = sorted(drives)[::3][:2]  # the first and the last: EC:2 over four has parity for two
    try:
        for drive in lost:
            _break(drive)
        _wait(
            "MinIO to see both drives gone",
            lambda: all(_drives(admin)[d]["state"] != "ok" for d in lost),
        )
        # reads go on from the two drives left ...
        assert all(store.get(key) == data for key, data in kept.items())
        # ... writes are refused at once, with the reason, as a transient error
        with pytest.raises(ObjectStoreUnavailableError, match="SlowDownWrite"):
            store.put(f"{prefix}/new", b"refused")
        monkeypatch.setattr(health, "READY_TTL", 0.0)
        with TestClient(api_app(settings, background=False)) as api:
            r = api.get("/v1/health/ready")
        assert r.status_code == 200, r.text  # a shared store: no instance would do better
        assert r.json()["degraded"] == ["objects"]
        assert r.json()["objects"]["detail"] == (
            f"degraded: 2 of {len(drives)} drives offline; no write quorum, writes refused"
        )

        for drive in lost:  # two new drives: both healed
            drive.unlink()
            drive.mkdir()
        _wait(
            "both new drives healed with every object's share",
            lambda: (
                all((d / "hub" / key / "xl.meta").is_file() for d in lost for key in kept)
                and all(
                    x["state"] == "ok" and not x.get("healing") for x in _drives(admin).values()
                )
            ),
        )
    finally:
        for drive in lost:
            if drive.is_file():
                drive.unlink()
            drive.mkdir(exist_ok=True)
    assert store.put(f"{prefix}/after", b"written again")
    assert all(store.get(key) == data for key, data in kept.items())
    client = _minio(env)
    for obj in client.list_objects("hub", prefix=prefix, recursive=True, include_version=True):
        client.remove_object("hub", str(obj.object_name), version_id=obj.version_id)
