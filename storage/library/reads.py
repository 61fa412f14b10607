"""The read side of the library: golden records read by subject, for the stores and the API."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import bindparam, text

from storage.library.model import LibraryError, RunMeta, _record_text
from storage.library.schema import STATEMENTS_WITH_RUNS

# a library's golden records: the stored ones, and the single statement of every subject that
# has none (``:l`` the library; ``_SOME`` also takes ``:s``, a list of subjects)
_GOLDEN_SQL = (
    "SELECT subject, NULL AS run_id, doc FROM library_records WHERE library = :l{r} "
    f"UNION ALL SELECT s.subject, m.run_id, s.doc FROM {STATEMENTS_WITH_RUNS} "
    "WHERE m.library = :l{s} AND NOT EXISTS (SELECT 1 FROM library_records r "
    "WHERE r.library = m.library AND r.subject = s.subject)"
)


_GOLDEN_ALL = text(_GOLDEN_SQL.format(r="", s=""))


_GOLDEN_SOME = text(
    _GOLDEN_SQL.format(r=" AND subject IN :s", s=" AND s.subject IN :s")
).bindparams(bindparam("s", expanding=True))


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
    return _record_text(run_id, doc, meta(run_id).fields)
