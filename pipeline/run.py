"""All the ingest steps in one process, in a row (what the DAG does task by task)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from pipeline.accuracy import measure_accuracy
from pipeline.check import Prefetched, check_in_memory
from pipeline.land import land
from pipeline.merge import merge
from pipeline.publish import publish
from pipeline.quarantine import quarantine
from pipeline.refs import RunRef
from pipeline.services import IngestServices
from schemas.readers import read_text
from storage.objects import sha256_hex


def run_pipeline(
    hub: IngestServices,
    dataset: str,
    data: bytes,
    filename: str,
    *,
    received_at: datetime | None = None,
    fail_on_breach: bool | None = None,
) -> RunRef:
    """land → check → quarantine → merge → accuracy → publish; returns the run summary.

    A file published before changes nothing (its run's counts are returned). The checked rows
    go from step to step in memory, not through the work files a DAG's tasks hand each other:
    a run that fails here is ingested again whole (or its check step run again)."""
    contract = hub.contract(dataset)  # an unknown dataset is refused before anything
    digest = sha256_hex(data)
    done = hub.library.find_run(dataset, digest)
    if done is not None and done["status"] == "published":
        ref = land(hub, dataset, data, filename, received_at)
        run = hub.library.get_run(ref["run_id"])
        return {
            **ref,
            "rows_in": run["rows_in"],
            "rows_accepted": run["rows_accepted"],
            "rows_quarantined": run["rows_quarantined"],
            "message": "already ingested: nothing changed",
        }
    name = Path(filename).name
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as reader:
        # the file is read (decoded, parsed, flagged) while it is landed: storing it durably
        # and opening its run leave a core free that the read would otherwise wait for
        reading = reader.submit(read_text, data, contract, name)
        ref = land(hub, dataset, data, filename, received_at)
        ref, rows = check_in_memory(hub, ref, Prefetched(dataset, digest, name, reading))
    ref = quarantine(hub, ref, fail_on_breach=fail_on_breach, rejected=rows.rejected)
    ref = merge(hub, ref, checked=rows.checked)
    del rows  # a million rows: not held through the steps after the merge
    ref = measure_accuracy(hub, ref, fail_on_breach=fail_on_breach)
    ref = publish(hub, ref)
    ref["message"] = "ingested"
    return ref
