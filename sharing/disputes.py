"""Disputes (数据异议): an approval system, or the subject themselves, says a golden record's
field is wrong; the dispute goes to the department that is the field's authoritative source,
and closes when that department's next delivery changes the field or when it answers.
Meanwhile granted readers see the field marked ``disputed``. The decisions are pure
functions; :class:`DisputeDesk` applies them to the rows of ``storage.findings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from schemas.contracts import Contract
from schemas.library import library_schema
from schemas.sharing import field_owners

LIBRARIES = ("population", "legal-entity")


class DisputeRefused(ValueError):
    """A dispute that cannot be filed; the message says why."""


def library_of(field: str) -> str:
    """The library holding ``field`` (the libraries' field names do not overlap)."""
    for name in LIBRARIES:
        if field in library_schema(name).field_names:
            return name
    raise DisputeRefused(f"{field!r} is not a field of any library (see GET /v1/catalog)")


def authority(library: str, field: str, contracts: Iterable[Contract]) -> str:
    """The department a dispute of ``field`` goes to: its authoritative source's."""
    owner = field_owners(library, contracts).get(field)
    if owner is None:
        raise DisputeRefused(f"no department delivers {field!r}: there is nobody to correct it")
    return owner


def datasets_of(department: str, contracts: Iterable[Contract]) -> set[str]:
    return {c.dataset_id for c in contracts if c.department == department}


def settled_by_delivery(
    dispute: Mapping[str, Any], value: Mapping[str, Any] | None, datasets: set[str]
) -> bool:
    """Whether the golden ``value`` of the disputed field (``source``, ``updated_at``) was
    delivered by the department after the dispute was filed."""
    if value is None or value.get("source") not in datasets:
        return False
    updated = value.get("updated_at")
    if isinstance(updated, str):
        updated = dt.datetime.fromisoformat(updated.replace("Z", "+00:00"))
    if not isinstance(updated, dt.datetime):
        return False
    filed = dispute["filed_at"]
    filed = filed if filed.tzinfo else filed.replace(tzinfo=dt.UTC)
    updated = updated if updated.tzinfo else updated.replace(tzinfo=dt.UTC)
    return bool(updated > filed)


# ---- the desk: filing, settling, listing and answering ---------------------------------------
MAX_CLAIM = 200
MAX_TEXT = 2000
VERDICTS = ("upheld", "rejected")  # the department agrees the value is wrong / the value stands
Golden = Callable[[str, str], Mapping[str, Mapping[str, Any]] | None]


class DisputeDesk:
    """Disputes of golden-record fields, whoever files them: an approval system through
    ``POST /v1/disputes`` or the subject themselves on ``/me/data`` ("this is wrong": a
    citizen's correction request is a dispute, one rule for both). ``golden(library, subject)``
    reads the current golden record (values with ``source`` and ``updated_at``).

    Each dispute goes to the field's authoritative department (the source whose value the
    golden record keeps by precedence, so the one whose correction changes it). It closes by
    that department's answer (``upheld``: the claim is right, the correction follows;
    ``rejected``: the value stands) or by its next delivery of the field, noticed whenever
    disputes are read. A filer has at most one open dispute per subject and field.
    """

    def __init__(self, engine: Any, contracts: Iterable[Contract], golden: Golden) -> None:
        from storage.findings import DisputeStore

        self.store = DisputeStore(engine)
        self.contracts = tuple(contracts)
        self.golden = golden

    def file(
        self, filer: str, subject: str, field: str, claimed_value: str, evidence: str
    ) -> dict[str, Any]:
        """File a dispute of ``subject``'s ``field`` (subject normalised by the caller);
        DisputeRefused saying why it cannot be."""
        claimed, evidence = " ".join(claimed_value.split()), " ".join(evidence.split())
        if not 1 <= len(claimed) <= MAX_CLAIM:
            raise DisputeRefused(f"give the right value in 1 to {MAX_CLAIM} characters")
        if not 1 <= len(evidence) <= MAX_TEXT:
            raise DisputeRefused(f"give the evidence in 1 to {MAX_TEXT} characters")
        library = library_of(field)
        department = authority(library, field, self.contracts)
        pending = [
            d
            for d in self.store.list(None, "open", subject)
            if d["field"] == field and d["client_id"] == filer
        ]
        if pending:
            raise DisputeRefused(
                f"a dispute of {field!r} is already open (no. {pending[0]['dispute_id']})"
            )
        made = self.store.get(
            self.store.file(
                client_id=filer,
                library=library,
                subject=subject,
                field=field,
                claimed_value=claimed,
                evidence=evidence,
                department=department,
            )
        )
        assert made is not None
        return made

    def settle(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` with the open ones a later delivery of their department answered closed
        (``closed_by`` delivery, and stored so)."""
        out = []
        for d in rows:
            if d["status"] == "open":
                fields = self.golden(d["library"], d["subject"]) or {}
                if settled_by_delivery(
                    d, fields.get(d["field"]), datasets_of(d["department"], self.contracts)
                ) and self.store.close(d["dispute_id"], "delivery"):
                    d = self.store.get(d["dispute_id"]) or d
            out.append(d)
        return out

    def for_departments(
        self, departments: Collection[str] | None, status: str | None = "open"
    ) -> list[dict[str, Any]]:
        """The disputes sent to ``departments`` (all when None), settled first; ``status``
        open, closed or None for both."""
        rows = self.settle(self.store.list(departments, "open" if status == "open" else None))
        return [d for d in rows if status is None or d["status"] == status]

    def of_subject(self, subject: str) -> list[dict[str, Any]]:
        """Every dispute of ``subject``'s record (what the subject sees), newest first."""
        rows = self.settle(self.store.list(None, None, subject))
        return sorted(rows, key=lambda d: d["filed_at"], reverse=True)

    def answer(
        self, dispute_id: str, departments: Collection[str] | None, verdict: str, reason: str
    ) -> dict[str, Any]:
        """The department's answer closes an open dispute sent to one of ``departments``
        (all when None); the closed row. DisputeRefused if it is not theirs, or closed."""
        reason = " ".join(reason.split())
        if verdict not in (*VERDICTS, "answer"):
            raise DisputeRefused(f"answer {', '.join(VERDICTS)}, not {verdict!r}")
        if not 1 <= len(reason) <= MAX_TEXT:
            raise DisputeRefused(f"give the reason in 1 to {MAX_TEXT} characters")
        row = self.store.get(dispute_id)
        if row is None or (departments is not None and row["department"] not in departments):
            raise DisputeRefused(f"no dispute {dispute_id} of this department")
        (row,) = self.settle([row])
        if row["status"] != "open" or not self.store.close(dispute_id, verdict, reason):
            raise DisputeRefused(f"dispute {dispute_id} is closed already")
        closed = self.store.get(dispute_id)
        assert closed is not None
        return closed


def age_days(filed_at: dt.datetime, now: dt.datetime | None = None) -> int:
    """Whole days since ``filed_at`` (naive UTC)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return max(0, (now - filed_at).days)
