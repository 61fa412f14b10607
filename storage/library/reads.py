"""The read side of the library: golden records read by subject, for the store and the API
(:class:`GoldenReader`, the sharing API's point reads)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from storage.engine import configure_sqlite
from storage.library.model import LibraryError, RunMeta, golden_fields, record_text
from storage.library.schema import STATEMENTS_WITH_RUNS

if TYPE_CHECKING:
    from storage.library.store import LibraryStore

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

    def __init__(self, library: LibraryStore) -> None:
        self.library = library
        self.engine = library.engine
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
        with self.engine.connect() as conn:
            return golden_text(
                conn.execute(text(GOLDEN_POINT_SQL), {"l": library, "s": subject}).tuples(),
                partial(self.library.run_meta, library),
            )

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
