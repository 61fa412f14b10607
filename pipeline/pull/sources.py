"""Reading a department system: what changed since a watermark, as rows of text and tombstones.

Each reader returns a :class:`Batch`: the contract's columns of the rows that are still there,
as text ("" for no value), the subjects the source deleted, and where the batch ends (the
greatest watermark it read, as :func:`encode_watermark` writes it). A snapshot source is read
whole and compared with the previous snapshot by the caller (:func:`snapshot_changes`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode, urljoin, urlsplit

from pipeline.pull.errors import PullError
from schemas.contracts import Contract
from schemas.pull_source import PullSource

MAX_PAGES = 100_000  # an endpoint whose "next" links never end is refused, not followed forever


@dataclass
class Batch:
    """What one read of a source found (see the module)."""

    rows: list[list[str]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    position: str | None = None  # the greatest watermark read (None: nothing new)
    data: bytes | None = None  # a delivered file as it was (prefix sources)
    filename: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows and not self.tombstones and self.data is None


# ---- watermarks ---------------------------------------------------------------------------
def encode_watermark(value: Any) -> str:
    """A watermark value as stored with its run: its kind, then its text."""
    if isinstance(value, bool) or value is None:
        raise PullError(f"a watermark must be a number, a time or text, not {value!r}")
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, Decimal):
        return f"decimal:{value}"
    if isinstance(value, float):
        return f"float:{value!r}"
    if isinstance(value, datetime):
        return f"datetime:{value.isoformat()}"
    if isinstance(value, date):
        return f"date:{value.isoformat()}"
    return f"text:{value}"


def decode_watermark(text: str) -> Any:
    """The value :func:`encode_watermark` stored, to compare the source's column with."""
    kind, _, raw = text.partition(":")
    if kind == "int":
        return int(raw)
    if kind == "decimal":
        return Decimal(raw)
    if kind == "float":
        return float(raw)
    if kind == "datetime":
        return datetime.fromisoformat(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    return raw


def watermark_text(text: str) -> str:
    """A stored watermark as an HTTP source is asked with (its text, without its kind)."""
    return text.partition(":")[2]


# ---- values as the contract's text -----------------------------------------------------------
def cell_text(value: Any) -> str:
    """A source's value as the text of a department file ("" for no value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "y", "yes", "是")
    return bool(value)


def _missing(
    contract: Contract,
    names: Iterable[str],
    source: PullSource,
    what: str,
    columns: Iterable[str] | None = None,
) -> None:
    have = set(names)
    wanted = [*(contract.column_names if columns is None else columns)]
    wanted += [c for c in (source.watermark, source.deleted) if c]
    absent = [c for c in wanted if c not in have]
    if absent:
        raise PullError(
            f"{contract.dataset_id}: the {what} has no column {', '.join(map(repr, absent))} "
            "(name the columns as the contract does, e.g. with AS in the query)"
        )


class _Collect:
    """Rows of a read, sorted into live rows and tombstones, with the greatest watermark."""

    def __init__(self, contract: Contract, source: PullSource) -> None:
        self.contract = contract
        self.source = source
        self.batch = Batch()
        self.top: Any = None
        self.subject = contract.column_names.index(contract.subject_column)

    def add(self, get: Mapping[str, Any]) -> None:
        source = self.source
        if source.watermark is not None:
            mark = get[source.watermark]
            if mark is None:
                raise PullError(
                    f"{self.contract.dataset_id}: a row has no {source.watermark} "
                    "(the watermark column must always have a value)"
                )
            if self.top is None or mark > self.top:
                self.top = mark
        row = [cell_text(get[c]) for c in self.contract.column_names]
        if source.deleted is not None and _truthy(get[source.deleted]):
            self.batch.tombstones.append(row[self.subject])
        else:
            self.batch.rows.append(row)

    def done(self) -> Batch:
        if self.top is not None:
            self.batch.position = encode_watermark(self.top)
        return self.batch


# ---- SQL ------------------------------------------------------------------------------------
def read_sql(contract: Contract, url: str, since: str | None, *, chunk: int = 50_000) -> Batch:
    """The rows of the source's table or query past ``since`` (all of them for a snapshot),
    in watermark order, over the SQLAlchemy ``url`` of its connection."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    source = contract.pull
    assert source is not None and source.kind == "sql"
    engine = create_engine(url, poolclass=NullPool)
    quote = engine.dialect.identifier_preparer.quote
    if source.table is not None:
        base = ".".join(quote(part) for part in source.table.split("."))
    else:
        base = f"({source.query}) AS pull_source"
    sql = f"SELECT * FROM {base}"
    params: dict[str, Any] = {}
    if source.watermark is not None:
        if since is not None:
            sql += f" WHERE {quote(source.watermark)} > :since"
            params["since"] = decode_watermark(since)
        sql += f" ORDER BY {quote(source.watermark)}"
    collect = _Collect(contract, source)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
                text(sql), params
            )
            names = list(result.keys())
            _missing(contract, names, source, f"table or query of connection {source.connection!r}")
            for part in result.partitions():
                for row in part:
                    collect.add(cast(Mapping[str, Any], row._mapping))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0][:200]
        raise PullError(
            f"{contract.dataset_id}: reading connection {source.connection!r} failed: {detail}"
        ) from None
    finally:
        engine.dispose()
    return collect.done()


# ---- HTTP -----------------------------------------------------------------------------------
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


def _pages(url: str, auth: tuple[str, str] | None, dataset: str) -> Iterator[tuple[str, bytes]]:
    """Each page of JSON Lines, following ``Link: <…>; rel="next"`` (RFC 8288)."""
    import base64
    import urllib.error
    import urllib.request

    origin = urlsplit(url)[:2]
    for _ in range(MAX_PAGES):
        request = urllib.request.Request(url, headers={"Accept": "application/x-ndjson"})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        shown = url.split("?")[0]
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read()
                link = response.headers.get("Link") or ""
        except urllib.error.HTTPError as exc:
            raise PullError(f"{dataset}: {shown} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PullError(f"{dataset}: {shown} could not be reached ({reason})") from None
        yield shown, body
        found = _NEXT.search(link)
        if not found:
            return
        url = urljoin(url, found.group(1))
        if urlsplit(url)[:2] != origin:
            raise PullError(f"{dataset}: a next page points to another server; not followed")
    raise PullError(f"{dataset}: more than {MAX_PAGES} pages; the endpoint's next links loop")


def read_http(
    contract: Contract, base_url: str, auth: tuple[str, str] | None, since: str | None
) -> Batch:
    """The JSON Lines rows of the source's endpoint past ``since`` (sent as ``since_param``),
    page after page."""
    source = contract.pull
    assert source is not None and source.kind == "http"
    url = base_url.rstrip("/") + "/" + source.path.lstrip("/") if source.path else base_url
    if since is not None and source.watermark is not None:
        url += ("&" if "?" in url else "?") + urlencode({source.since_param: watermark_text(since)})
    collect = _Collect(contract, source)
    checked = False
    for shown, body in _pages(url, auth, contract.dataset_id):
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                obj = None
            if not isinstance(obj, dict):
                raise PullError(
                    f"{contract.dataset_id}: {shown} line {number} is not a JSON object"
                ) from None
            if not checked:
                # a JSON object leaves out what it has no value for; it always has its subject
                _missing(contract, obj, source, f"endpoint {shown}", [contract.subject_column])
                checked = True
            collect.add(
                {
                    k: obj.get(k)
                    for k in (*contract.column_names, source.watermark, source.deleted)
                    if k
                }
            )
    return collect.done()


# ---- snapshots ------------------------------------------------------------------------------
def row_digests(contract: Contract, rows: Sequence[list[str]]) -> dict[str, str]:
    """Subject -> digest of its row: what the next snapshot is compared with."""
    at = contract.column_names.index(contract.subject_column)
    return {row[at]: hashlib.sha256("\x1f".join(row).encode()).hexdigest()[:32] for row in rows}


def snapshot_changes(
    contract: Contract, batch: Batch, previous: Mapping[str, str]
) -> tuple[Batch, dict[str, str]]:
    """A whole snapshot as a batch of what changed since ``previous`` (its row digests): the
    rows that are new or differ, and the subjects missing now as tombstones; and this
    snapshot's digests."""
    now = row_digests(contract, batch.rows)
    at = contract.column_names.index(contract.subject_column)
    changed = [row for row in batch.rows if previous.get(row[at]) != now[row[at]]]
    flagged = set(batch.tombstones)
    if previous:  # a subject flagged deleted in both snapshots was withdrawn once already
        flagged &= set(previous)
    gone = sorted(set(previous) - set(now) | flagged)
    return Batch(rows=changed, tombstones=gone), now


# ---- files under a prefix -----------------------------------------------------------------
# names a department's writer uses while a file is still being written: never read
_UNFINISHED = (".tmp", ".part", ".partial", ".filepart", ".crdownload")


def _finished(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not base.startswith((".", "~")) and not base.endswith(_UNFINISHED)


class FolderFiles:
    """The files a department writes into a local (or mounted, SFTP-like) folder."""

    def __init__(self, folder: str) -> None:
        from pathlib import Path

        self.root = Path(folder)

    def names(self, dataset: str) -> list[str]:
        """The finished files under the folder, by name (relative, with ``/``)."""
        if not self.root.is_dir():
            raise PullError(f"{dataset}: the source folder does not exist or is not a folder")
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and _finished(p.name)
        )

    def get(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class BucketFiles:
    """The objects a department writes under a prefix of a MinIO/S3 bucket."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        secure: bool,
        bucket: str,
        prefix: str,
    ) -> None:
        from minio import Minio

        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        self.bucket = bucket
        self.prefix = prefix

    def names(self, dataset: str) -> list[str]:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            found = self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True)
            return sorted(
                o.object_name for o in found if o.object_name and _finished(o.object_name)
            )
        except S3Error as exc:
            raise PullError(
                f"{dataset}: listing bucket {self.bucket!r} failed: {exc.code}"
            ) from None
        except HTTPError as exc:
            raise PullError(
                f"{dataset}: the bucket's server could not be reached ({type(exc).__name__})"
            ) from None

    def get(self, name: str) -> bytes:
        response = self.client.get_object(self.bucket, name)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()
