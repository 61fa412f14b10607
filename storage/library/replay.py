"""A subject's golden record replayed from its statements, with withdrawals and retractions.

The one place that decides a golden record from scratch: :meth:`LibraryStore.record` (history
"as of" a day) and the recomputation a withdrawal or a retraction makes. Statements are taken
in the order they were observed; a withdrawal statement (:data:`~storage.library.model.WITHDRAWN`,
a tombstone) takes back every value its source gave before it, a retracted run counts for
nothing, and each field's winner is then chosen by the 一数一源 precedence rule among what is
left: the field's authoritative source first, otherwise the newest.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

from schemas.precedence import rank, wins
from storage.library.model import WITHDRAWN, FactView, RunMeta, encode_json, statement_values


def replay(
    statements: Iterable[tuple[str, RunMeta, str]], retracted: Container[str] = ()
) -> dict[str, FactView]:
    """The winning value per field of one subject's ``statements`` (run id, its run's metadata,
    the statement), skipping ``retracted`` runs and values their source withdrew later."""
    alive: dict[str, list[FactView]] = {}
    for run_id, meta, doc in sorted(statements, key=lambda s: (s[1].observed_at, s[0])):
        if run_id in retracted:
            continue
        if doc == WITHDRAWN:
            for name, facts in alive.items():
                alive[name] = [f for f in facts if f.dataset != meta.dataset]
            continue
        for name, value in statement_values(doc, meta.fields).items():
            fact = FactView(
                value, meta.dataset, run_id, meta.observed_at, name in meta.authoritative
            )
            alive.setdefault(name, []).append(fact)
    winners: dict[str, FactView] = {}
    for name, facts in sorted(alive.items()):
        best: FactView | None = None
        for f in facts:
            if wins(
                rank(f.authoritative, f.observed_at, f.run_id),
                None if best is None else rank(best.authoritative, best.observed_at, best.run_id),
            ):
                best = f
        if best is not None:
            winners[name] = best
    return winners


def record_doc(winners: Mapping[str, FactView]) -> str:
    """The stored form of a golden record (``{run id: {field: value}}``); ``{}`` when every
    value was withdrawn or retracted (the subject is gone from the library)."""
    doc: dict[str, dict[str, str]] = {}
    for name, fact in sorted(winners.items()):
        doc.setdefault(fact.run_id, {})[name] = fact.value
    return encode_json(doc).decode()
