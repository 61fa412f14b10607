"""Errors back to the source (源头治理): what the hub rejected or found wrong in a department's
data, served to that department's publishing client only.

``GET /v1/runs/{id}/rejections``: the rows of one of its runs that were quarantined, each with
its reason codes, its key and the values as delivered (so the department can correct them and
resubmit: ``hub quarantine resubmit``). The client needs a ``datasets`` grant naming the run's
dataset; another department's run is not found. Each row's subject is audited.

``GET /v1/findings``: the cross-source findings (:mod:`pipeline.cross_checks`) on fields whose
authoritative source is a department the client publishes for, with their evidence; a finding
closes when a later check no longer finds it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import UtcDatetime
from api.state import HubState, hub_state

router = APIRouter(tags=["publishing"])
MAX_ROWS = 1000


class RejectedRow(BaseModel):
    row: int = Field(description="1-based position among the run's rejected rows")
    reasons: list[str] = Field(examples=[["ID_CHECKSUM"]])
    key: dict[str, str | None]
    values: dict[str, str | None]


class RejectionsOut(BaseModel):
    run_id: str
    dataset: str
    rows: int = Field(description="rejected rows in the run")
    shown: int
    reasons: str = Field(description="reason code totals, 'code=count;...'")
    items: list[RejectedRow]


@router.get(
    "/v1/runs/{id}/rejections",
    response_model=RejectionsOut,
    responses=responses(401, 403, 404, 422, 429),
)
def get_rejections(
    id: Annotated[str, Path(min_length=1, max_length=80, pattern=PRINTABLE)],
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> RejectionsOut:
    """The quarantined rows of a run of a dataset this client publishes (at most 1,000)."""
    from storage.library import LibraryError

    try:
        run = state.library.get_run(id)
    except LibraryError:
        raise Problem(404, "unknown-run", "no ingest run with this id") from None
    if not access.allows(run["dataset"]):
        raise Problem(404, "unknown-run", "no ingest run with this id")
    access.fields = {run["dataset"]}
    entry, rows = rejected_rows(state, run, MAX_ROWS)
    for r in rows:
        if r["subject"]:
            access.touch(r["subject"], {run["dataset"]}, "rejected")
    return RejectionsOut(
        run_id=id,
        dataset=run["dataset"],
        rows=int(entry["rows"]) if entry else 0,
        shown=len(rows),
        reasons=str(entry["reasons"]) if entry else "",
        items=[RejectedRow.model_validate(r) for r in rows],
    )


def rejected_rows(
    state: HubState, run: dict[str, Any], limit: int
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A run's quarantine entry (None if nothing was rejected) and its first ``limit``
    rejected rows: ``row`` (1-based), ``reasons``, ``key`` and ``values`` as delivered, and
    ``subject`` (the normalised subject the row names, to audit the showing of it, or None).
    What the publishing client (here) and the department's publisher page both show."""
    from pipeline.work import REASONS_COLUMN, load_table
    from schemas.library import subject_key

    contract = state.ingest.contracts[run["dataset"]]
    entries = [
        q for q in state.library.list_quarantine(run["dataset"]) if q["run_id"] == run["run_id"]
    ]
    if not entries:
        return None, []
    table = load_table(state.ingest.objects, entries[0]["object_key"])
    cols: dict[str, list[Any]] = {n: table[n].to_pylist() for n in table.column_names}
    names = [n for n in table.column_names if n != REASONS_COLUMN]
    items = []
    for i in range(min(table.num_rows, limit)):
        values = {n: None if cols[n][i] is None else str(cols[n][i]) for n in names}
        subject = values.get(contract.subject_column)
        items.append(
            {
                "row": i + 1,
                "reasons": list(cols[REASONS_COLUMN][i]),
                "key": {k: values.get(k) for k in contract.key},
                "values": values,
                "subject": subject_key(contract.library, subject) if subject else None,
            }
        )
    return entries[0], items


class FindingOut(BaseModel):
    finding_id: int
    kind: str = Field(examples=["birth_date_vs_id"])
    library: str
    field: str = Field(description="the library field at fault")
    subject: str
    department: str = Field(description="the field's authoritative source")
    evidence: dict[str, Any]
    status: str = Field(description="open, or closed once a later delivery resolved it")
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None


@router.get("/v1/findings", response_model=list[FindingOut], responses=responses(401, 403, 429))
def get_findings(
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
) -> list[FindingOut]:
    """Cross-source findings on fields whose authoritative source is a department this client
    publishes for (the departments of the datasets its grant names)."""
    from storage.findings import FindingStore

    departments = sorted(
        {c.department for ds, c in state.ingest.contracts.items() if access.allows(ds)}
    )
    rows = FindingStore(state.library.engine).list(departments, None if status == "all" else status)
    access.fields = set(departments)
    for r in rows:
        access.touch(r["subject"], {r["field"]}, f"finding-{r['status']}")
    return [FindingOut.model_validate(r) for r in rows]
