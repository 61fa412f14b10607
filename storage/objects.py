"""Object store for raw department files and quarantine Parquet: one Protocol, two back ends.

Landing objects are content-addressed (``landing/<dataset>/<sha256>``) and write-once: putting
different bytes under an existing key is refused, putting the same bytes again is a no-op. The
local folder is the embedded default; MinIO (S3) is the production back end.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from storage.objects_local import LocalObjectStore as LocalObjectStore

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class ObjectStoreError(Exception):
    """An object could not be stored or read."""


class ObjectExistsError(ObjectStoreError):
    """Different bytes were offered for a key that already holds an object (write-once)."""


class ObjectStoreUnavailableError(ObjectStoreError):
    """The object store could not be reached (connection refused, timed out, reset): transient,
    a retry may succeed."""


class ObjectNotFoundError(ObjectStoreError):
    """No object under the requested key."""


@dataclass(frozen=True)
class DriveHealth:
    """The drives of an erasure-coded object store, as its server reports them."""

    drives: int
    offline: int  # not serving: gone, faulty, or a new drive not yet formatted
    healing: int  # serving while the server rebuilds their shards
    writable: bool  # every erasure set keeps its write quorum

    @property
    def degraded(self) -> bool:
        """Serving with less redundancy than built: a drive is offline or healing."""
        return self.offline > 0 or self.healing > 0


def erasure_quorums(drives: int, parity: int) -> tuple[int, int]:
    """(read quorum, write quorum) of an erasure set of ``drives`` with ``parity`` parity
    shards: reads need the data shards, writes one more when data and parity are equal
    (MinIO's rule, so that two halves of a split set cannot both accept a write)."""
    data = drives - parity
    return data, data + 1 if data == parity else data


def drive_health(info: Mapping[str, Any]) -> DriveHealth:
    """:class:`DriveHealth` from MinIO's admin info answer (``servers[].drives[]`` with their
    ``state``, ``pool_index`` and ``set_index``; ``backend.standardSCParity``)."""
    drives = [d for server in info.get("servers") or [] for d in server.get("drives") or []]
    parity = int((info.get("backend") or {}).get("standardSCParity") or 0)
    sets: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for d in drives:
        sets.setdefault((int(d.get("pool_index", 0)), int(d.get("set_index", 0))), []).append(d)
    writable = bool(sets) and all(
        sum(d.get("state") == "ok" for d in members) >= erasure_quorums(len(members), parity)[1]
        for members in sets.values()
    )
    return DriveHealth(
        drives=len(drives),
        offline=sum(d.get("state") != "ok" for d in drives),
        healing=sum(d.get("state") == "ok" and bool(d.get("healing")) for d in drives),
        writable=writable,
    )


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data`` (the content address of a landing object)."""
    return hashlib.sha256(data).hexdigest()


def landing_key(dataset: str, digest: str) -> str:
    """The content-addressed key of a raw department file."""
    return f"landing/{dataset}/{digest}"


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (``..``, absolute paths, odd characters)."""
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ObjectStoreError(f"invalid object key {key!r}: use [A-Za-z0-9_.-] segments and '/'")
    return key


class ObjectStore(Protocol):
    """Write-once byte objects under slash-separated keys."""

    def put(self, key: str, data: bytes) -> bool:
        """Store ``data``; True if written, False if identical bytes were there already."""
        ...

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """``put`` for a batch, durable when it returns; the first failed write raises."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...


class MinioObjectStore:
    """Objects in MinIO/S3 buckets through the ``minio`` SDK.

    One bucket by default; ``routes`` sends keys under a prefix to another bucket (``landing/``
    to the object-locked ``landing`` bucket). A routed key written before its route existed is
    still read from the default bucket, so earlier runs keep working.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str = "hub",
        *,
        secure: bool = False,
        routes: Mapping[str, str] | None = None,
    ) -> None:
        from minio import Minio

        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            http_client=_http_client(),
        )
        self.endpoint = endpoint
        self._credentials = (access_key, secret_key, secure)
        self._admin: Any = None  # MinioAdmin, made on the first drive_health()
        self.bucket = bucket
        self.routes = dict(routes or {})
        with _reachable(endpoint, "open buckets"):
            for name in {bucket, *self.routes.values()}:
                if not self.client.bucket_exists(name):
                    self.client.make_bucket(name)

    def _bucket(self, key: str) -> str:
        for prefix, name in self.routes.items():
            if key.startswith(prefix):
                return name
        return self.bucket

    def _where(self, key: str) -> str | None:
        """The bucket holding ``key`` (its routed one first), or None."""
        from minio.error import S3Error

        for name in dict.fromkeys((self._bucket(key), self.bucket)):
            try:
                with _reachable(self.endpoint, f"stat {key!r}"):
                    self.client.stat_object(name, key)
            except S3Error as exc:
                if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                    continue
                raise ObjectStoreError(f"MinIO stat {key!r} failed: {exc.code}") from exc
            return name
        return None

    def put(self, key: str, data: bytes) -> bool:
        from minio.error import S3Error

        check_key(key)
        if self.exists(key):
            if sha256_hex(self.get(key)) == sha256_hex(data):
                return False
            raise ObjectExistsError(f"object {key!r} exists with different content (write-once)")
        try:
            # check-then-put: the SDK's put_object cannot send If-None-Match, so two writers
            # racing on one key could both write; content addressing makes their bytes equal
            with _reachable(self.endpoint, f"put {key!r}"):
                self.client.put_object(self._bucket(key), key, io.BytesIO(data), len(data))
        except S3Error as exc:
            raise ObjectStoreError(f"MinIO refused {key!r}: {exc.code}") from exc
        return True

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """``put`` for a batch, up to 16 objects in flight (each PUT is a round trip; MinIO
        makes each durable before it answers). The first failed write raises."""
        from concurrent.futures import ThreadPoolExecutor

        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
            futures = [pool.submit(self.put, key, data) for key, data in items]
            return [f.result() for f in futures]

    def get(self, key: str) -> bytes:
        from minio.error import S3Error

        check_key(key)
        name = self._where(key) if self.routes else self.bucket
        if name is None:
            raise ObjectNotFoundError(f"no object {key!r} in bucket {self._bucket(key)}")
        try:
            with _reachable(self.endpoint, f"get {key!r}"):
                resp = self.client.get_object(name, key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject"}:
                raise ObjectNotFoundError(f"no object {key!r} in bucket {name}") from None
            raise ObjectStoreError(f"MinIO get {key!r} failed: {exc.code}") from exc
        try:
            with _reachable(self.endpoint, f"read {key!r}"):
                return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def exists(self, key: str) -> bool:
        check_key(key)
        return self._where(key) is not None

    def list(self, prefix: str = "") -> list[str]:
        names = [self.bucket] + [
            name
            for route, name in self.routes.items()
            if route.startswith(prefix) or prefix.startswith(route)
        ]
        found: set[str] = set()
        for name in dict.fromkeys(names):
            with _reachable(self.endpoint, f"list {prefix!r}"):
                objs = self.client.list_objects(name, prefix=prefix, recursive=True)
                found.update(o.object_name for o in objs if o.object_name)
        return sorted(found)

    def drive_health(self) -> DriveHealth | None:
        """The deployment's drives from MinIO's admin info API (HTTP, no ``mc``), or None when
        it cannot tell: these credentials lack ``admin:ServerInfo``, or the API did not answer
        within two seconds. Objects are still served while this is None."""

        from minio.error import MinioAdminException
        from urllib3.exceptions import HTTPError

        try:
            info = json.loads(self._admin_client().info())
        except (MinioAdminException, HTTPError, ConnectionError, TimeoutError, ValueError):
            return None  # refused (403: no admin right), no answer or no JSON: cannot tell
        return drive_health(info)

    def _admin_client(self) -> Any:
        if self._admin is None:
            import certifi
            import urllib3
            from minio.credentials import StaticProvider
            from minio.minioadmin import MinioAdmin

            access_key, secret_key, secure = self._credentials
            self._admin = MinioAdmin(
                endpoint=self.endpoint,
                credentials=StaticProvider(access_key, secret_key),
                secure=secure,
                # one quick try: a health check must not hang on the SDK's five-minute retries
                http_client=urllib3.PoolManager(
                    timeout=urllib3.Timeout(connect=2.0, read=2.0),
                    retries=False,
                    maxsize=2,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                ),
            )
        return self._admin


def _http_client() -> Any:
    """The SDK's own HTTP pool (same timeouts, five retries with short backoff) except for 5xx
    answers: a 503's ``Retry-After`` is not obeyed, and they are retried twice. MinIO sends
    ``Retry-After: 60`` with every refusal (a set without write quorum answers
    ``SlowDownWrite`` at once), so obeying it held each write five minutes before it failed.
    The last answer goes back to the SDK, which names the refusal."""
    import certifi
    import urllib3

    timeout = 300.0  # the SDK's: large objects on slow links
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=5,
            status=2,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
            respect_retry_after_header=False,
            raise_on_status=False,
        ),
    )


@contextmanager
def _reachable(endpoint: str, what: str) -> Iterator[None]:
    """Transport failures of the MinIO client (urllib3 gives up after its retries, or the
    connection breaks mid-body) and the server's own refusals (a 5xx answer, such as
    ``SlowDownWrite`` from an erasure set that lost its write quorum) as
    :class:`ObjectStoreUnavailableError`, naming the endpoint: both are transient."""
    from minio.error import InvalidResponseError, S3Error, ServerError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except (HTTPError, ConnectionError, TimeoutError) as exc:
        raise ObjectStoreUnavailableError(
            f"MinIO at {endpoint} is unreachable ({what}): {exc.__class__.__name__}; "
            "check that it runs (`make services-up`) and retry"
        ) from exc
    except S3Error as exc:
        status = int(getattr(exc.response, "status", 0) or 0)
        if status < 500:
            raise  # the caller's answer: not found, refused by a lock, ...
        raise ObjectStoreUnavailableError(
            f"MinIO at {endpoint} refused to {what} for now: {exc.code} (HTTP {status}; "
            "are enough of its drives online? `scripts/services.sh status`); retry"
        ) from exc
    except (ServerError, InvalidResponseError) as exc:  # an error answer without S3 detail
        raise ObjectStoreUnavailableError(
            f"MinIO at {endpoint} failed to {what}: {exc}; retry"
        ) from exc


class ObjectsConfig(Protocol):
    """Which object store to open and how (the hub's settings have these fields)."""

    @property
    def objects(self) -> Literal["local", "minio"]: ...
    @property
    def objects_path(self) -> Path: ...
    @property
    def minio_endpoint(self) -> str: ...
    @property
    def minio_access_key(self) -> str: ...
    @property
    def minio_secret_key(self) -> str: ...
    @property
    def minio_secure(self) -> bool: ...


def object_store(settings: ObjectsConfig, bucket: str = "hub") -> ObjectStore:
    """The object store the configuration selects.

    On MinIO, ``bucket`` picks the bucket: ``hub`` (versioned working objects) by default, with
    ``landing/`` keys (department deliveries) in ``landing``; ``licences`` for issued licences.
    ``landing`` and ``licences`` have object lock (write-once within retention). The embedded
    folder holds everything in one tree (keys already start with their kind).
    """
    if settings.objects == "minio":
        return MinioObjectStore(
            settings.minio_endpoint,
            settings.minio_access_key,
            settings.minio_secret_key,
            bucket=bucket,
            secure=settings.minio_secure,
            # department deliveries are kept write-once (object lock) like licences
            routes={"landing/": "landing"} if bucket == "hub" else None,
        )
    from storage.objects_local import LocalObjectStore

    return LocalObjectStore(settings.objects_path)


def __getattr__(name: str) -> Any:
    """``LocalObjectStore`` lives in :mod:`storage.objects_local` (imported on first use: that
    module imports this one)."""
    if name == "LocalObjectStore":
        from storage.objects_local import LocalObjectStore

        return LocalObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
