"""The read side of the library: golden records read by subject, for the store and the API
(:class:`GoldenReader`, the sharing API's point reads), and read whole as Arrow columns
(:func:`golden_columns`, the store's bulk read of some fields of every subject)."""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from itertools import chain
from operator import attrgetter, itemgetter, methodcaller
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection, bindparam, text

from storage.engine import configure_sqlite
from storage.library.model import (
    LibraryError,
    RunMeta,
    golden_fields,
    record_text,
    statement_values,
)
from storage.library.schema import STATEMENTS_WITH_RUNS

if TYPE_CHECKING:
    from storage.library.store import LibraryStore
    from storage.replica import ReadRouting

# a library's golden records: the stored ones, and the single statement of every subject that
# has none (``:l`` the library; ``_SOME`` also takes ``:s``, a list of subjects)
_GOLDEN_SQL = (
    "SELECT subject, NULL AS run_id, doc FROM library_records WHERE library = :l{r} "
    f"UNION ALL SELECT s.subject, m.run_id, s.doc FROM {STATEMENTS_WITH_RUNS} "
    "WHERE m.library = :l{s} AND NOT EXISTS (SELECT 1 FROM library_records r "
    "WHERE r.library = m.library AND r.subject = s.subject)"
)
GOLDEN_ALL = text(_GOLDEN_SQL.format(r="", s=""))
GOLDEN_SOME = text(_GOLDEN_SQL.format(r=" AND subject IN :s", s=" AND s.subject IN :s")).bindparams(
    bindparam("s", expanding=True)
)


# one subject's golden record in one statement: its stored record, or else its statements
GOLDEN_POINT_SQL = (
    "SELECT NULL, doc FROM library_records WHERE library = :l AND subject = :s "
    f"UNION ALL SELECT m.run_id, s.doc FROM {STATEMENTS_WITH_RUNS} "
    "WHERE m.library = :l AND s.subject = :s"
)


def golden_text(
    rows: Iterable[tuple[str | None, str]], meta: Callable[[str], RunMeta]
) -> str | None:
    """The golden record from :data:`GOLDEN_POINT_SQL`'s rows (run id or None, doc), in the
    stored form ``{run id: {field: value}}``; None if the subject is unknown. ``meta``
    describes a run (:meth:`LibraryStore.run_meta`)."""
    found = list(rows)
    for run_id, doc in found:
        if run_id is None:
            return str(doc)
    if not found:
        return None
    if len(found) > 1:
        raise LibraryError("a subject has statements from several runs but no golden record")
    run_id, doc = found[0]
    assert run_id is not None
    return record_text(run_id, doc, meta(run_id).fields)


class GoldenReader:
    """Point reads of golden records by primary key.

    The hot path of the sharing API: on SQLite it uses one plain DB-API connection per thread
    and a fixed statement, because SQLAlchemy's per-statement construction, compilation-cache
    lookup and pool checkout cost more than the indexed read itself; other databases go through
    the engine. The runs a record names are described by the library store's cached
    :meth:`~storage.library.LibraryStore.run_meta`.
    """

    def __init__(self, library: LibraryStore, routing: ReadRouting | None = None) -> None:
        self.library = library
        self.engine = library.engine
        # on PostgreSQL with a streaming replica: reads go to it while it keeps up
        self.routing = routing
        db = self.engine.url.database
        self._path = (
            db
            if self.engine.dialect.name == "sqlite" and db not in (None, "", ":memory:")
            else None
        )
        self._local = threading.local()

    def _doc(self, library: str, subject: str) -> str | None:
        if self._path is not None:
            con = getattr(self._local, "con", None)
            if con is None:
                con = sqlite3.connect(self._path)
                configure_sqlite(con)  # the hub's pragmas, busy timeout included
                self._local.con = con
            return golden_text(
                con.execute(GOLDEN_POINT_SQL, {"l": library, "s": subject}),
                partial(self.library.run_meta, library),
            )
        meta = partial(self.library.run_meta, library)

        def read(conn: Connection) -> str | None:
            rows = conn.execute(text(GOLDEN_POINT_SQL), {"l": library, "s": subject})
            return golden_text(rows, meta)

        if self.routing is not None:
            return self.routing.read(read)
        with self.engine.connect() as conn:
            return read(conn)

    def rows(self, library: str, subject: str) -> list[tuple[Any, ...]]:
        """(field, value, dataset, run_id, observed_at, authoritative) of one subject."""
        doc = self._doc(library, subject)
        if doc is None:
            return []
        fields = golden_fields(doc, partial(self.library.run_meta, library))
        return [
            (name, f.value, f.dataset, f.run_id, f.observed_at, f.authoritative)
            for name, f in fields.items()
        ]


def golden_columns(
    batches: Iterable[Sequence[tuple[str, str | None, str]]],
    fields: Sequence[str],
    meta: Callable[[str], RunMeta],
) -> Any:
    """An Arrow table of ``subject`` and the golden value of each of ``fields`` (text, null if
    none) from batches of :data:`GOLDEN_ALL`'s rows (subject, run id or None, doc), in their
    order.

    Each golden record is decoded once: a batch's statements of one run (its layout from
    ``meta``) and its stored records are each decoded as one JSON array by msgspec — a stored
    record's runs into structs of the wanted fields alone, the others skipped unread — and
    picked apart by C-level ``map``/``itemgetter``/``attrgetter``; the columns are assembled
    by Arrow, so no Python bytecode runs per value."""
    import pyarrow as pa

    wanted = list(dict.fromkeys(fields))
    decode = _records_decoder(tuple(wanted))
    parts = []
    with no_cycle_collection():
        for chunk in batches:
            if chunk:
                parts.append(_columns_of(chunk, wanted, meta, decode))
    if not parts:
        empty = {"subject": pa.array([], pa.string())}
        return pa.table(empty | {f: pa.array([], pa.string()) for f in wanted})
    return pa.concat_tables(parts)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a bulk read makes millions of short-lived
    acyclic objects (rows, decoded records): its passes over them find nothing to collect
    and, on a million subjects, cost as much as the decoding itself. Reference counting still
    frees everything; the collector is re-enabled after (if it was on)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_decode_statements = msgspec.json.Decoder(list[list[str | None]]).decode
_decode_objects = msgspec.json.Decoder(list[dict[str, str]]).decode


@lru_cache(maxsize=64)
def _records_decoder(fields: tuple[str, ...]) -> Callable[[str], list[dict[str, Any]]]:
    """A decoder of a JSON array of stored records into {run id: struct of ``fields``}: the
    struct (not tracked by the cyclic collector) keeps only the wanted fields' values."""
    names = {f"f{i}": f for i, f in enumerate(fields)}  # field names need not be identifiers
    struct = msgspec.defstruct(
        "Wanted",
        [(k, str | None, None) for k in names],
        rename=names,
        gc=False,
        forbid_unknown_fields=False,
    )
    return msgspec.json.Decoder(list[dict[str, struct]]).decode  # type: ignore[valid-type]


def _columns_of(
    chunk: Sequence[tuple[str, str | None, str]],
    fields: list[str],
    meta: Callable[[str], RunMeta],
    decode_records: Callable[[str], list[dict[str, Any]]],
) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    subjects, run_ids, docs = zip(*chunk, strict=True)
    n = len(subjects)
    groups = pc.dictionary_encode(pa.array(run_ids, pa.string()))
    codes = groups.indices.to_numpy(zero_copy_only=False)
    nulls = groups.is_null().to_numpy(zero_copy_only=False)
    every = np.asarray(docs, dtype=object)
    # per field: the row each value is for, and the values, one piece per group
    at: dict[str, list[Any]] = {f: [] for f in fields}
    got: dict[str, list[Any]] = {f: [] for f in fields}
    for code, run_id in enumerate(groups.dictionary.to_pylist()):
        rows = np.flatnonzero((codes == code) & ~nulls)
        part = docs if len(rows) == n else every[rows].tolist()
        for f, values in _run_values(run_id, part, fields, meta).items():
            at[f].append(rows)
            got[f].append(values)
    if nulls.any():  # stored records: {run id: {field: value}}, each field under one run
        rows = np.flatnonzero(nulls)
        part = docs if len(rows) == n else every[rows].tolist()
        records = decode_records("[" + ",".join(part) + "]")
        inner = list(chain.from_iterable(map(dict.values, records)))
        owner = np.repeat(rows, np.fromiter(map(len, records), np.int64, len(records)))
        for i, f in enumerate(fields):
            at[f].append(owner)
            got[f].append(pa.array(list(map(attrgetter(f"f{i}"), inner)), pa.string()))
    out = {"subject": pa.array(subjects, pa.string())}
    for f in fields:
        out[f] = _scatter(n, at[f], got[f])
    return pa.table(out)


def _run_values(
    run_id: str, docs: Sequence[str], fields: list[str], meta: Callable[[str], RunMeta]
) -> dict[str, Any]:
    """field -> Arrow values (aligned with ``docs``) of one run's statements."""
    import pyarrow as pa

    layout = meta(run_id).fields
    text = "[" + ",".join(docs) + "]"
    try:
        if layout:
            values = _decode_statements(text)
            if set(map(len, values)) - {len(layout)}:
                raise ValueError("a statement does not fit its run's layout")
            pos = {f: i for i, f in enumerate(layout)}
            return {
                f: pa.array(list(map(itemgetter(pos[f]), values)), pa.string())
                for f in fields
                if f in pos
            }
        objects = _decode_objects(text)
    except (msgspec.ValidationError, ValueError):  # mixed forms: one at a time, clear errors
        objects = [statement_values(d, layout) for d in docs]
    return {f: pa.array(list(map(methodcaller("get", f), objects)), pa.string()) for f in fields}


def _scatter(n: int, rows: list[Any], values: list[Any]) -> Any:
    """An Arrow string array of ``n`` values: each piece's non-null values at its rows."""
    import numpy as np
    import pyarrow as pa

    if not values:
        return pa.nulls(n, pa.string())
    flat = pa.concat_arrays(values)
    where = np.concatenate(rows)
    if len(rows) == 1 and len(where) == n and (where == np.arange(n)).all():
        return flat
    valid = flat.is_valid().to_numpy(zero_copy_only=False)
    take = np.full(n, -1, dtype=np.int64)
    take[where[valid]] = np.flatnonzero(valid)
    return flat.take(pa.array(take, mask=take < 0))
