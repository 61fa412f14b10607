"""Issuing in bulk (``hub licence issue-batch``): rows from a CSV file or from library records,
issued chunk by chunk, resumable after a crash without a duplicate.

Each job has an id derived from what it issues (type, authority, the file's SHA-256 or the
dataset and its filters), and each row a key (its line number, or its holder). A chunk's rows
are recorded as done (issued with their licence id, or refused with the reason) in the very
transaction that commits the chunk's licences (``LicenceService.issue_each``), so a job killed
at any point and run again skips exactly the rows whose licences were committed, and issues
the others once. Rows are refused one by one with their reason; the good rows of a chunk are
issued together.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licence import authorities
from licence.errors import LicenceError
from licence.issuance import Holder, IssueRequest
from schemas import licence_types

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from licence.service import LicenceService

HOLDER_ID_COLUMNS = ("holder_id", "持证主体代码")
HOLDER_NAME_COLUMNS = ("holder_name", "持证主体")
VALID_UNTIL_COLUMNS = ("valid_until", "证照有效期截止日期")
NAME_FIELDS = {"entity": "entity_name", "person": "name"}


class BulkError(ValueError):
    """A bulk job cannot start (unreadable file, unknown columns, bad filter); nothing issued."""


@dataclass(frozen=True)
class BulkRow:
    key: str  # the row's line number in the file, or its holder for library records
    holder: str
    name: str
    fields: dict[str, str]
    valid_until: dt.date | None = None


@dataclass
class BulkSource:
    """The rows of a job, the refusals found while reading them, and what identifies the job."""

    rows: list[BulkRow]
    refused: list[tuple[str, str]]  # (row key, reason) of rows that could not be read
    identity: list[str]  # what the job id is derived from


@dataclass
class BulkResult:
    job_id: str
    total: int
    issued: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    resumed: int = 0  # rows done by an earlier run of the same job


def _pick(header: list[str], names: Iterable[str]) -> str | None:
    return next((h for h in header if h in names), None)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BulkError("the file is neither UTF-8 nor GB18030 text")


def read_csv(path: Path, lt: licence_types.LicenceType, constants: Mapping[str, str]) -> BulkSource:
    """Rows of a CSV file: a holder ID column (``holder_id`` or 持证主体代码), a holder name
    column (``holder_name`` or 持证主体), optionally ``valid_until``, and the type's fields by
    key or by Chinese name; ``constants`` fill fields the file does not have."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BulkError(f"cannot read {path.name}: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    header = [h.strip() for h in next(reader, [])]
    holder_col = _pick(header, HOLDER_ID_COLUMNS)
    name_col = _pick(header, HOLDER_NAME_COLUMNS)
    if holder_col is None or name_col is None:
        raise BulkError(
            f"{path.name}: the header needs a holder ID column ({' or '.join(HOLDER_ID_COLUMNS)}) "
            f"and a holder name column ({' or '.join(HOLDER_NAME_COLUMNS)})"
        )
    until_col = _pick(header, VALID_UNTIL_COLUMNS)
    by_name = {f.name: f.key for f in lt.fields} | {f.key: f.key for f in lt.fields}
    columns: dict[int, str] = {}
    unknown = []
    for i, h in enumerate(header):
        if h in (holder_col, name_col, until_col):
            continue
        if h in by_name:
            columns[i] = by_name[h]
        elif h:
            unknown.append(h)
    if unknown:
        raise BulkError(
            f"{path.name}: columns {', '.join(unknown)} are not fields of {lt.name}; its fields: "
            + ", ".join(f"{f.key} ({f.name})" for f in lt.fields)
        )
    hi, ni = header.index(holder_col), header.index(name_col)
    ui = header.index(until_col) if until_col else None
    rows: list[BulkRow] = []
    refused: list[tuple[str, str]] = []
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        key = str(line)
        if len(values) != len(header):
            refused.append((key, f"line {line} has {len(values)} values, the header {len(header)}"))
            continue
        fields = dict(constants)
        fields.update({k: values[i] for i, k in columns.items() if values[i].strip()})
        until = None
        if ui is not None and values[ui].strip():
            try:
                until = dt.date.fromisoformat(values[ui].strip())
            except ValueError:
                refused.append((key, f"line {line}: valid_until is not a date YYYY-MM-DD"))
                continue
        rows.append(BulkRow(key, values[hi].strip(), values[ni].strip(), fields, until))
    digest = hashlib.sha256(data).hexdigest()
    return BulkSource(rows, refused, ["file", digest, json.dumps(dict(constants), sort_keys=True)])


def parse_where(items: Iterable[str]) -> list[tuple[str, str, str]]:
    """``FIELD=VALUE`` / ``FIELD!=VALUE`` filters as (field, operator, value)."""
    out = []
    for item in items:
        op = "!=" if "!=" in item else "=" if "=" in item else None
        name, _, value = item.partition(op) if op else ("", "", "")
        if op is None or not name.strip():
            raise BulkError(f"--where {item!r}: expected FIELD=VALUE or FIELD!=VALUE")
        out.append((name.strip(), op, value.strip()))
    return out


def library_rows(
    library: Any,
    library_name: str,
    lt: licence_types.LicenceType,
    where: list[tuple[str, str, str]],
    constants: Mapping[str, str],
    skip: set[str],
) -> BulkSource:
    """Rows for the golden records of ``library_name`` that pass every filter and are not in
    ``skip`` (holders that already hold the type): the holder's registered name, the fields
    the type takes from the library (``library:`` in its YAML), and ``constants``."""
    names: dict[str, str] = library.field_values(library_name, NAME_FIELDS[lt.holder_kind])
    mapped = {f.key: library.field_values(library_name, f.library) for f in lt.fields if f.library}
    filters = [(library.field_values(library_name, name), op, value) for name, op, value in where]
    rows = []
    for subject in sorted(names):
        if subject in skip:
            continue
        keep = all((values.get(subject) == value) == (op == "=") for values, op, value in filters)
        if not keep:
            continue
        fields = dict(constants)
        for key, values in mapped.items():
            if key not in constants and values.get(subject):
                fields[key] = values[subject]
        rows.append(BulkRow(subject, subject, names[subject], fields))
    identity = ["library", library_name, json.dumps([where, dict(constants)], sort_keys=True)]
    return BulkSource(rows, [], identity)


def job_id(type_code: str, authority: str, identity: list[str]) -> str:
    data = json.dumps([type_code, authority, *identity], ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:32]


class BulkIssuer:
    """Issues a job's rows chunk by chunk through ``LicenceService.issue_each``."""

    def __init__(self, service: LicenceService, chunk: int = 500, max_rate: float = 0.0) -> None:
        if chunk < 1:
            raise BulkError("the chunk size must be at least 1")
        self.service = service
        self.chunk = chunk
        self.max_rate = max_rate  # licences per second at most (0: as fast as it goes)

    def check(self, type_name: str, authority: str) -> licence_types.LicenceType:
        """The type, once the authority may issue it and has an active seal (BulkError else)."""
        try:
            lt = licence_types.get(type_name)
            auth = authorities.get(authority)
            authorities.require_allowed(auth, lt)
        except (licence_types.LicenceTypeError, authorities.AuthorityError) as exc:
            raise BulkError(str(exc)) from None
        now = dt.datetime.now(dt.UTC)
        if self.service.store.active_seal(auth.uscc, now) is None:
            raise BulkError(f"{auth.name} ({auth.uscc}) has no active seal: `hub seal create`")
        return lt

    def run(
        self,
        type_name: str,
        authority: str,
        source: BulkSource,
        progress: Callable[[int], None] = lambda _n: None,
    ) -> BulkResult:
        lt = self.check(type_name, authority)
        job = job_id(lt.code, authority, source.identity)
        store = self.service.store
        done = store.bulk_done(job)
        result = BulkResult(job, len(source.rows) + len(source.refused))
        # the counts are of this source's rows (a job over library records sees other rows
        # on another day): those an earlier run did count as done by it
        for key in [r.key for r in source.rows] + [k for k, _ in source.refused]:
            if key not in done:
                continue
            lid, why = done[key]
            result.resumed += 1
            if lid is not None:
                result.issued += 1
            elif why is not None:
                result.refused.append((key, why))
        unread = [(k, why) for k, why in source.refused if k not in done]
        if unread:
            with store.engine.begin() as conn:
                store.record_bulk(conn, job, [(k, None, why) for k, why in unread])
            result.refused.extend(unread)
        progress(result.resumed + len(unread))
        todo = [r for r in source.rows if r.key not in done]
        started = time.monotonic()
        sent = 0
        for lo in range(0, len(todo), self.chunk):
            part = todo[lo : lo + self.chunk]
            requests = [
                IssueRequest(lt.code, authority, Holder(r.holder, r.name), r.fields, r.valid_until)
                for r in part
            ]

            def record(
                results: list[dict[str, Any] | LicenceError],
                conn: Connection,
                part: list[BulkRow] = part,
            ) -> None:
                store.record_bulk(
                    conn,
                    job,
                    [
                        (r.key, got["header"]["licence_id"], None)
                        if isinstance(got, dict)
                        else (r.key, None, str(got))
                        for r, got in zip(part, results, strict=True)
                    ],
                )

            results = self.service.issue_each(requests, on_commit=record)
            for r, got in zip(part, results, strict=True):
                if isinstance(got, dict):
                    result.issued += 1
                else:
                    result.refused.append((r.key, str(got)))
            progress(len(part))
            sent += len(part)
            if self.max_rate > 0:
                ahead = sent / self.max_rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        return result
