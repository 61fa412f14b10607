"""A governance run: every valid licence against the libraries, findings stored per authority
with their evidence, and each type's policy applied (flag, or suspend through the lifecycle).

What the run reads is one bulk read per library field for the holders of valid licences; the
comparison is :func:`licence.governance.reconcile`. A finding records the library run (and its
dataset and time) that holds the current value, so an authority sees which delivery said so. A
finding already open is not added again; one that no longer holds is resolved. A type whose
policy lists the finding's kind (``governance: {auto_suspend: [...]}``) has the licence
suspended at once through ``LicenceService.suspend``: a ledger entry like any suspension, with
the finding's kind as the reason code, which verification then reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from licence import document, governance
from licence.errors import LicenceError
from schemas import licence_types

if TYPE_CHECKING:
    from licence.service import LicenceService

LIBRARIES = {"person": "population", "entity": "legal-entity"}
FIELDS = {"person": governance.PERSON_FIELDS, "entity": governance.ENTITY_FIELDS}


@dataclass
class GovernanceResult:
    run_no: int
    checked: int
    findings: list[governance.Finding] = field(default_factory=list)
    new: int = 0
    suspended: list[str] = field(default_factory=list)


def _backfill(svc: LicenceService, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Read the name and legal representative of licences issued before governance recorded
    them from their sealed documents, once, and store them."""
    missing = [r for r in rows if r[5] is None]
    if not missing:
        return rows
    basis = []
    for r in missing:
        vals = document.values(svc.document(r[0]))
        basis.append(
            {
                "licence_id": r[0],
                "holder_name": str(vals.get("持证主体", "")),
                "legal_rep": vals.get("legal_representative"),
            }
        )
    svc.store.add_basis(basis)
    by_id = {b["licence_id"]: b for b in basis}
    return [
        (*r[:5], by_id[r[0]]["holder_name"], by_id[r[0]]["legal_rep"]) if r[0] in by_id else r
        for r in rows
    ]


def _evidence(library: Any, finding: governance.Finding, kind: str, run_no: int) -> str:
    """The finding's evidence as JSON: the field, its value now and on the licence, and the
    library run (dataset, time) that holds the value; the governance run that found it."""
    out: dict[str, Any] = {
        "field": finding.field,
        "now": finding.now,
        "on_licence": finding.on_licence,
        "governance_run": run_no,
    }
    if finding.kind != governance.HOLDER_UNKNOWN:
        record = library.record(LIBRARIES[kind], finding.holder_id)
        fact = record.fields.get(finding.field) if record is not None else None
        if fact is not None:
            out |= {
                "dataset": fact.dataset,
                "library_run": fact.run_id,
                "observed_at": fact.observed_at.isoformat(),
            }
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


def run_governance(
    svc: LicenceService, library: Any, authority: str | None = None
) -> GovernanceResult:
    """Reconcile every valid licence (of one authority) with the libraries; store the findings
    and apply each type's policy."""
    store = svc.store
    run_no = store.start_governance_run()
    rows = _backfill(svc, store.valid_for_governance(authority))
    issued = [
        governance.Issued(lid, auth, code, kind, holder, name or "", rep)
        for lid, auth, code, kind, holder, name, rep in rows
    ]
    values: dict[str, dict[str, dict[str, str]]] = {}
    for kind in ("person", "entity"):
        holders = sorted({i.holder_id for i in issued if i.holder_kind == kind})
        if holders:
            values[kind] = {
                f: library.field_values(LIBRARIES[kind], f, holders) for f in FIELDS[kind]
            }
    found = governance.reconcile(issued, values)
    kinds = {i.licence_id: i.holder_kind for i in issued}
    result = GovernanceResult(run_no, len(issued), found)
    records = [
        {
            "licence_id": f.licence_id,
            "authority": f.authority,
            "type_code": f.type_code,
            "holder_id": f.holder_id,
            "kind": f.kind,
            "evidence": _evidence(library, f, kinds[f.licence_id], run_no),
            "action": "flagged",
        }
        for f in found
    ]
    new = store.record_findings(run_no, records, {i.licence_id for i in issued})
    result.new = len(new)
    # the policy: suspend where the type says so (each licence once, for its first such finding)
    for f in found:
        lt = licence_types.get(f.type_code)
        if f.kind not in lt.auto_suspend or f.licence_id in result.suspended:
            continue
        try:
            svc.suspend(
                f.licence_id,
                f"{governance.KINDS[f.kind]}（治理核查第{run_no}次）",
                f.kind,
            )
        except LicenceError:
            continue  # no longer valid (changed meanwhile): nothing to suspend
        store.set_finding_action(f.licence_id, f.kind, "suspended")
        result.suspended.append(f.licence_id)
    store.finish_governance_run(run_no, len(issued), len(found), len(result.suspended))
    return result
