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


def test_local_batch_is_one_pack_that_another_store_on_the_folder_reads(tmp_path: Path) -> None:
    other = LocalObjectStore(tmp_path / "objects")  # opened before the batch, as a server is
    store = LocalObjectStore(tmp_path / "objects")
    batch = [(f"licences/a/{i}.json", f"licence {i}".encode()) for i in range(50)]
    assert store.put_many(batch) == [True] * 50
    assert len(list((tmp_path / "objects" / ".packs").glob("*.pack"))) == 1
    assert [other.get(k) for k, _ in batch] == [data for _, data in batch]
    assert other.exists("licences/a/49.json")
    assert other.list("licences/a/") == sorted(k for k, _ in batch)
    # write-once holds across the layouts and the processes' stores
    assert other.put("licences/a/7.json", b"licence 7") is False
    with pytest.raises(ObjectExistsError, match=r"licences/a/7\.json"):
        other.put("licences/a/7.json", b"licence 7, altered")
    with pytest.raises(ObjectExistsError, match=r"licences/a/8\.json"):
        other.put_many([("licences/b/1", b"1"), ("licences/a/8.json", b"altered")])
    assert not store.exists("licences/b/1")
    assert store.get("licences/a/7.json") == b"licence 7"


def test_local_batch_with_a_key_twice_keeps_the_first_or_refuses_a_different_second(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    assert store.put_many([("k/1", b"a"), ("k/1", b"a")]) == [True, False]
    with pytest.raises(ObjectExistsError, match="k/2"):
        store.put_many([("k/2", b"a"), ("k/2", b"b")])
    assert not store.exists("k/2")


def test_local_packed_object_altered_on_disk_is_refused_not_served(tmp_path: Path) -> None:
    LocalObjectStore(tmp_path / "objects").put_many([("k/1", b"first"), ("k/2", b"second")])
    (pack,) = (tmp_path / "objects" / ".packs").glob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[raw.index(b"second")] ^= 1
    pack.write_bytes(bytes(raw))
    store = LocalObjectStore(tmp_path / "objects")
    assert store.get("k/1") == b"first"
    with pytest.raises(ObjectStoreError, match=r"'k/2'.*SHA-256"):
        store.get("k/2")


def test_local_store_refuses_keys_in_its_packs_folder(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_many([("k/1", b"one")])
    for key in (".packs/x", ".packs/.lock"):
        with pytest.raises(ObjectStoreError, match="invalid object key"):
            store.put(key, b"x")
        with pytest.raises(ObjectStoreError, match="invalid object key"):
            store.get(key)
    assert store.list() == ["k/1"]


_WRITER = """
import sys
from pathlib import Path
from storage.objects import LocalObjectStore

store = LocalObjectStore(Path(sys.argv[1]))
for b in range(10_000):
    store.put_many([(f"b{b}/{i}", f"{b}:{i}".encode() * 50) for i in range(200)])
    print(b, flush=True)  # acknowledged: put_many returned
"""


def test_local_batches_acknowledged_before_a_kill_9_survive_whole(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    root = tmp_path / "objects"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 5:
            break
    proc.send_signal(signal.SIGKILL)  # mid-way through a later batch
    proc.wait(timeout=30)
    store = LocalObjectStore(root)
    keys = store.list()
    batches = {k.split("/")[0] for k in keys}
    for b in range(acked + 1):
        for i in range(200):
            assert store.get(f"b{b}/{i}") == f"{b}:{i}".encode() * 50
    # a batch is there whole or not at all
    for name in batches:
        assert sum(k.startswith(name + "/") for k in keys) == 200
    assert store.put_many([("after/1", b"x")]) == [True]  # the lock died with the writer


def test_local_batch_object_under_a_key_that_is_a_file_s_folder_is_stored(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("k/1", b"a file")
    assert store.put_many([("k/1/x", b"packed")]) == [True]  # keys are flat, as in S3
    assert store.get("k/1/x") == b"packed"
    assert store.get("k/1") == b"a file"
    assert store.list("k/") == ["k/1", "k/1/x"]
