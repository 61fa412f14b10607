"""A merge's loop: statements written chunk by chunk, and golden records updated under the
一数一源 precedence rule (:mod:`schemas.precedence`), counting agreement with the authoritative
sources on the way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from schemas.precedence import Rank, rank, wins
from storage.library.dialects import Dialect
from storage.library.encoding import PreparedStatements, as_statements, relayout
from storage.library.model import (
    WITHDRAWN,
    LibraryError,
    RunMeta,
    Statements,
    decode_json_map,
    encode_json,
    record_text,
    statement_values,
)
from storage.library.replay import record_doc, replay


def _in_order(last: str | None, first: str, run_id: str) -> None:
    """Refuse a chunk that does not start after the previous chunk's last subject."""
    if last is not None and first <= last:
        raise LibraryError(
            "merge chunks must hold disjoint subjects in increasing order "
            f"(run {run_id}: a chunk starts at or before the previous one's end)"
        )


class Precedence:
    """Applies one run's values to stored golden records, counting agreement on the way."""

    def __init__(
        self,
        run_id: str,
        mine: RunMeta,
        read_meta: Callable[[list[str]], dict[str, RunMeta]],
    ) -> None:
        self.run_id = run_id
        self.mine = mine
        self.read_meta = read_meta
        self.meta: dict[str, RunMeta] = {run_id: mine}
        self._ranks: dict[tuple[str, bool], Rank] = {}  # (run, authoritative): its rank
        self.compared = 0
        self.agreeing = 0

    def describe(self, run_ids: Iterable[str]) -> None:
        """Read the metadata of runs not described yet."""
        missing = [r for r in run_ids if r not in self.meta]
        if missing:
            self.meta.update(self.read_meta(missing))

    def _rank(self, run_id: str, authoritative: bool) -> Rank:
        """The precedence rank of a described run's values (cached: a merge compares the same
        few runs for every field of every subject)."""
        key = (run_id, authoritative)
        got = self._ranks.get(key)
        if got is None:
            got = self._ranks[key] = rank(authoritative, self.meta[run_id].observed_at, run_id)
        return got

    def apply(self, stored: str, values: Mapping[str, str]) -> str | None:
        """The record with this run's winning values, or None if none of them wins."""
        doc = decode_json_map(stored.encode())
        self.describe(doc)
        winner: dict[str, str] = {}
        for run_id, fields in doc.items():
            for name in fields:
                winner[name] = run_id
        run_id, mine = self.run_id, self.mine
        changed = False
        for name, value in values.items():
            cur = winner.get(name)
            ours = name in mine.authoritative
            if cur is not None:
                theirs = self.meta[cur]
                their_auth = name in theirs.authoritative
                if not ours and their_auth and theirs.dataset != mine.dataset:
                    self.compared += 1
                    self.agreeing += doc[cur][name] == value
                if not wins(self._rank(run_id, ours), self._rank(cur, their_auth)):
                    continue
                if cur == run_id and doc[cur][name] == value:
                    continue
                del doc[cur][name]
                if not doc[cur]:
                    del doc[cur]
            doc.setdefault(run_id, {})[name] = value
            changed = True
        return encode_json(doc).decode() if changed else None


def _golden_updates(
    db: Dialect, merged: Precedence, run_id: str, part: Statements
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The golden records a chunk's statements create (subjects another run spoke of alone
    until now) and change (subjects with a stored record)."""
    known, single = db.known(part.subjects)
    if single:
        merged.describe({other for other, _ in single.values()})
    fresh: list[tuple[str, str]] = []
    changed: list[tuple[str, str]] = []
    if not known and not single:
        return fresh, changed
    for subject, doc in zip(part.subjects, part.docs, strict=True):
        old = known.get(subject)
        if old is not None:
            new = merged.apply(old, statement_values(doc, part.fields))
            if new is not None:
                changed.append((subject, new))
            continue
        one = single.get(subject)
        if one is not None:  # two runs now speak of it: its record is stored from now on
            other, statement = one
            base = record_text(other, statement, merged.meta[other].fields)
            new = merged.apply(base, statement_values(doc, part.fields))
            fresh.append((subject, new or base))
    return fresh, changed


def merge_each(
    db: Dialect,
    chunks: Iterable[
        Statements | PreparedStatements | tuple[Sequence[str | None], Mapping[str, Sequence[Any]]]
    ],
    run_id: str,
    first: bool,
    others: bool,
    merged: Precedence,
    layout: tuple[str, ...] | None,
    after_facts: Callable[[], None] | None,
) -> tuple[int, tuple[str, ...] | None]:
    """:meth:`LibraryStore.merge_chunks`' loop: (statements written, the run's layout).

    A new run on a database that streams statements (:meth:`Dialect.streams`) writes every
    chunk through one stream and updates the golden records once at the end, for the subjects
    the database finds another run or a record for (:meth:`Dialect.met_subjects`): a subject
    of a new run is in one chunk only, and no chunk's records depend on another's, so this is
    the records a chunk-by-chunk update gives, without a look-up per subject of the run (a
    run of ten million new persons into a library of one million meets none of them)."""
    written = 0
    rows = 0  # statements streamed
    last: str | None = None
    streamed = first and db.streams()
    for chunk in chunks:
        part: Statements | None = None
        if (
            isinstance(chunk, PreparedStatements)
            and streamed
            and len(chunk.subjects)
            and chunk.plain
            and chunk.fields == (layout or chunk.fields)
        ):  # Arrow text as it is: no Python object per row
            _in_order(last, chunk.subjects[0].as_py(), run_id)
            db.copy_prepared(chunk)
            layout, last = chunk.fields, chunk.subjects[-1].as_py()
            written += chunk.facts
            rows += len(chunk.subjects)
        elif isinstance(chunk, PreparedStatements):
            part = chunk.finish()
        else:
            part = chunk if isinstance(chunk, Statements) else as_statements(*chunk)
        if part is not None:
            if not part.subjects:
                continue
            if layout is None:
                layout = part.fields
            elif part.fields != layout:
                part = relayout(part, layout)
            _in_order(last, part.subjects[0], run_id)
            last = part.subjects[-1]
            written += part.facts
            if streamed:
                db.copy_statements(part.subjects, part.docs)
                rows += len(part.subjects)
            else:
                db.add_statements(part.subjects, part.docs, first)
        if after_facts is not None:
            after_facts()
            after_facts = None
        if part is not None and others and not streamed:
            db.write_records(*_golden_updates(db, merged, run_id, part))
    if after_facts is not None:
        after_facts()
    if streamed and others:
        db.end_copy()  # the statements are all written: the look-ups need the connection
        for subjects, docs in db.met_subjects(rows):
            part = Statements(layout or (), subjects, docs, 0)
            db.write_records(*_golden_updates(db, merged, run_id, part))
    return written, layout


def withdraw(db: Dialect, subjects: Iterable[str]) -> int:
    """A withdrawal statement of the merging run for each of ``subjects`` the library knows (a
    tombstone: its source deleted the record), and their golden records replayed without the
    values that source gave before. Returns how many subjects were withdrawn."""
    wanted = sorted(set(subjects))
    known = sorted({subject for subject, _, _ in db.statements_of(wanted)})
    if known:
        db.add_statements(known, [WITHDRAWN] * len(known), False)
        recompute(db, known)
    return len(known)


def recompute(db: Dialect, subjects: Sequence[str], chunk: int = 10_000) -> None:
    """Store the golden records of ``subjects`` replayed from all their statements
    (:func:`storage.library.replay.replay`), after a withdrawal or a retraction. Every one is
    stored, even when nothing is left (``{}``: the subject is gone from the golden records)."""
    retracted = db.retracted()
    for i in range(0, len(subjects), chunk):
        part = subjects[i : i + chunk]
        stored = db.records_of(part)
        rows = list(db.statements_of(part))
        meta = db.run_meta(sorted({run_id for _, run_id, _ in rows}))
        by_subject: dict[str, list[tuple[str, RunMeta, str]]] = {}
        for subject, run_id, doc in rows:
            by_subject.setdefault(subject, []).append((run_id, meta[run_id], doc))
        fresh: list[tuple[str, str]] = []
        changed: list[tuple[str, str]] = []
        for subject in part:
            if subject in by_subject:
                doc = record_doc(replay(by_subject[subject], retracted))
                (changed if subject in stored else fresh).append((subject, doc))
        db.write_records(fresh, changed)
