"""The object store contract, run against every back end (local folder; MinIO in services tier)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.objects import (
    LocalObjectStore,
    MinioObjectStore,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    landing_key,
    sha256_hex,
)

REPO = Path(__file__).resolve().parents[2]


def _minio_env() -> dict[str, str]:
    """Endpoint/credentials written by `scripts/services.sh up` (var/services/env)."""
    env = dict(os.environ)
    path = REPO / "var" / "services" / "env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env.setdefault(k.removeprefix("export ").strip(), v.strip().strip("'\""))
    return env


@pytest.fixture(params=["local", pytest.param("minio", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    env = _minio_env()
    if "HUB_MINIO_ENDPOINT" not in env:
        pytest.fail("MinIO not configured: run `make services-up` (writes var/services/env)")
    bucket = "test-" + sha256_hex(str(tmp_path).encode())[:12]
    minio_store = MinioObjectStore(
        env["HUB_MINIO_ENDPOINT"],
        env.get("HUB_MINIO_ACCESS_KEY", ""),
        env.get("HUB_MINIO_SECRET_KEY", ""),
        bucket=bucket,
    )
    yield minio_store
    # leave the server as we found it
    for key in minio_store.list():
        minio_store.client.remove_object(bucket, key)
    minio_store.client.remove_bucket(bucket)


def test_put_get_roundtrip(store: ObjectStore) -> None:
    data = "姓名,身份证号\n".encode()
    key = landing_key("ps_household", sha256_hex(data))
    assert store.put(key, data) is True
    assert store.get(key) == data
    assert store.exists(key)
    assert store.list("landing/ps_household/") == [key]


def test_same_bytes_again_is_noop(store: ObjectStore) -> None:
    store.put("landing/x/a", b"abc")
    assert store.put("landing/x/a", b"abc") is False
    assert store.get("landing/x/a") == b"abc"


def test_different_bytes_refused(store: ObjectStore) -> None:
    store.put("landing/x/a", b"abc")
    with pytest.raises(ObjectExistsError, match="write-once"):
        store.put("landing/x/a", b"abd")
    assert store.get("landing/x/a") == b"abc"


def test_missing_and_bad_keys(store: ObjectStore) -> None:
    assert not store.exists("landing/x/none")
    with pytest.raises(ObjectNotFoundError):
        store.get("landing/x/none")
    for bad in ("../etc/passwd", "/abs", "a//b", "a/../b", "a b"):
        with pytest.raises(ObjectStoreError):
            store.put(bad, b"x")


def test_local_batch_put_is_write_once_and_all_or_nothing_on_a_conflict(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("licences/a/1.json", b"one")
    batch = [("licences/a/1.json", b"one"), ("licences/a/2.json", b"two"), ("licences/b/3", b"3")]
    assert store.put_many(batch) == [False, True, True]  # an identical object is left alone
    assert [store.get(k) for k, _ in batch] == [b"one", b"two", b"3"]
    assert store.put_many(batch) == [False, False, False]
    # one object with different content refuses the batch before anything of it is written
    with pytest.raises(ObjectExistsError, match=r"licences/a/2\.json"):
        store.put_many([("licences/c/4", b"4"), ("licences/a/2.json", b"TWO")])
    assert not store.exists("licences/c/4")
    assert store.get("licences/a/2.json") == b"two"
    # no temporary files are left behind
    assert sorted(p.name for p in (tmp_path / "objects").rglob(".tmp-*")) == []
    assert store.list("licences/") == ["licences/a/1.json", "licences/a/2.json", "licences/b/3"]


@pytest.mark.services
def test_minio_routes_a_prefix_to_its_own_bucket_and_still_reads_older_objects(
    tmp_path: Path,
) -> None:
    env = _minio_env()
    if "HUB_MINIO_ENDPOINT" not in env:
        pytest.fail("MinIO not configured: run `make services-up` (writes var/services/env)")
    base = "test-" + sha256_hex(str(tmp_path).encode())[:12]
    args = (env["HUB_MINIO_ENDPOINT"], env["HUB_MINIO_ACCESS_KEY"], env["HUB_MINIO_SECRET_KEY"])
    plain = MinioObjectStore(*args, bucket=base)
    plain.put("landing/x/old", b"before the route")  # written when everything was in one bucket
    routed = MinioObjectStore(*args, bucket=base, routes={"landing/": base + "-landing"})
    try:
        assert routed.put("landing/x/new", b"delivery") is True
        assert routed.put("work/r/a.parquet", b"work") is True
        client = routed.client
        assert client.get_object(base + "-landing", "landing/x/new").read() == b"delivery"
        assert [o.object_name for o in client.list_objects(base, recursive=True)] == [
            "landing/x/old",
            "work/r/a.parquet",
        ]
        assert routed.get("landing/x/old") == b"before the route"
        assert routed.put("landing/x/old", b"before the route") is False  # no second copy
        with pytest.raises(ObjectExistsError):
            routed.put("landing/x/old", b"changed")
        assert routed.list("landing/") == ["landing/x/new", "landing/x/old"]
        assert routed.list() == ["landing/x/new", "landing/x/old", "work/r/a.parquet"]
        with pytest.raises(ObjectNotFoundError):
            routed.get("landing/x/none")
    finally:
        for name in (base, base + "-landing"):
            for o in routed.client.list_objects(name, recursive=True):
                routed.client.remove_object(name, o.object_name)
            routed.client.remove_bucket(name)


def test_unreachable_minio_is_a_named_transient_error() -> None:
    """No server on the port: the SDK's urllib3 errors come out as the store's own error,
    naming the endpoint and what to do, after the client's own retries."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"127.0.0.1:{port}"
    with pytest.raises(ObjectStoreUnavailableError, match=f"MinIO at {endpoint} is unreachable"):
        MinioObjectStore(endpoint, "key", "secret-key")
