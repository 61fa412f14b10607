"""The publish step: the run closed as published, the library's columnar snapshot (if it keeps
one) brought up to date (:mod:`storage.library.snapshot`); the caller emits the library's Asset
event."""

from __future__ import annotations

import logging

from pipeline.refs import IngestError, RunRef
from pipeline.services import IngestServices, fail_run
from pipeline.work import now
from storage.library import LEGAL_ENTITY, POPULATION

ASSETS = {POPULATION: "library://population", LEGAL_ENTITY: "library://legal-entity"}
# what a failure of this step says; a run failed so (merged, then not closed) may publish again
_FAILED = "publish step failed"

log = logging.getLogger(__name__)


def publish(hub: IngestServices, ref: RunRef) -> RunRef:
    """Close the run as published (a DAG task then emits the library's Asset event).

    Only a merged run is published (a run whose publishing failed may try again); a failure
    marks the run failed with a message saying so."""
    run = hub.library.get_run(ref["run_id"])
    contract = hub.contract(run["dataset"])
    if run["status"] != "published":
        retrying = run["status"] == "failed" and str(run["message"] or "").startswith(_FAILED)
        if run["status"] != "merged" and not retrying:
            raise IngestError(f"run {run['run_id']} is {run['status']}, not merged: cannot publish")
        try:
            hub.library.set_run(run["run_id"], status="published", message=None, finished_at=now())
        except Exception as exc:
            retry = "the run is merged and can be published again"
            error = fail_run(hub, run["run_id"], exc, "publish", retry)
            if error is exc:
                raise
            raise error from exc
        snapshot(hub, contract.library)
    return {**ref, "status": "published", "asset": ASSETS[contract.library]}


def snapshot(hub: IngestServices, library: str) -> None:
    """Bring the library's columnar snapshot (if it has one: a bulk read asked for it) up to
    its new version, typed as the library schema says, for the bulk reads the Asset event
    starts (eligibility policies). It is a copy kept for speed: if it cannot be written the run
    stays published and the next bulk read builds it from the golden records."""
    from quality.coercion import library_typed
    from storage.library.snapshot import refresh

    try:
        built = refresh(hub.library, library, library_typed)
    except Exception as exc:  # the copy failed, not the publish: say so, without the data
        log.warning("library snapshot of %s not refreshed: %s", library, type(exc).__name__)
        return
    if built is not None:
        log.info(
            "library snapshot of %s: %d subjects, version %s, %.2f s%s",
            library,
            built.table.num_rows,
            built.version,
            built.seconds,
            "" if built.written else " (not kept: the library changed meanwhile)",
        )
