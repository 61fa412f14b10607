"""A run's quarantined rows for a data steward, and their correction ingested as a new run."""

from __future__ import annotations

import csv
import io

from pipeline.files import contract_file
from pipeline.refs import IngestError, RunRef
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from pipeline.work import REASONS_COLUMN, load_table

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def export_quarantine(hub: IngestServices, run_id: str) -> bytes:
    """A run's quarantined rows as UTF-8-BOM CSV for a data steward, with reasons per row.

    Cells that a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``) are prefixed with ``'``
    so opening the export never runs a formula (OWASP CSV injection).
    """
    entries = [q for q in hub.library.list_quarantine() if q["run_id"] == run_id]
    if not entries:
        raise IngestError(f"run {run_id!r} has no quarantined rows (see `hub quarantine list`)")
    table = load_table(hub.objects, entries[0]["object_key"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [n for n in table.column_names if n != REASONS_COLUMN]
    w.writerow([*names, REASONS_COLUMN])
    cols = {n: table[n].to_pylist() for n in table.column_names}
    for i in range(table.num_rows):
        cells = ["" if cols[n][i] is None else str(cols[n][i]) for n in names]
        cells = ["'" + c if c.startswith(_TRIGGERS) else c for c in cells]
        w.writerow([*cells, " ".join(cols[REASONS_COLUMN][i])])
    return buf.getvalue().encode("utf-8-sig")


def resubmit(
    hub: IngestServices, run_id: str, corrected_csv: bytes, *, fail_on_breach: bool | None = False
) -> RunRef:
    """Ingest corrected rows (an edited export) as a new run of the original dataset.

    A resubmission holds only formerly rejected rows, so file-level thresholds would nearly
    always breach: by default they warn here, and rows still bad are quarantined again.
    """
    entries = [q for q in hub.library.list_quarantine() if q["run_id"] == run_id]
    if not entries:
        raise IngestError(f"run {run_id!r} has no quarantined rows to resubmit")
    contract = hub.contract(entries[0]["dataset"])
    try:
        text = corrected_csv.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"corrected file must be the UTF-8 CSV export: {exc}") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise IngestError("corrected file has no rows")

    def undo_escape(v: str) -> str:
        return v[1:] if v.startswith("'") and v[1:].startswith(_TRIGGERS) else v

    data = [[undo_escape(r.get(c, "") or "") for c in contract.column_names] for r in rows]
    payload, suffix = contract_file(contract, data)
    ref = run_pipeline(
        hub,
        contract.dataset_id,
        payload,
        f"resubmit-{run_id}{suffix}",
        fail_on_breach=fail_on_breach,
    )
    hub.library.mark_resubmitted(run_id, ref["run_id"])
    return ref
