"""The accuracy step: how often a merged run agreed with the authoritative sources.

The library's merge counts, for the subjects and fields it already held from their
authoritative source, how many of the run's values agreed (GB/T 36344 accuracy); this step adds
that ratio to the run's other quality ratios and judges it against the contract's threshold. A
breach fails the run like a check breach and it stays unpublished; its statements stay as
history (a non-authoritative value never wins over the authoritative one, so golden records are
unaffected).
"""

from __future__ import annotations

from pipeline.refs import RunRef
from pipeline.services import IngestServices, fail_run
from pipeline.work import now


def measure_accuracy(
    hub: IngestServices, ref: RunRef, *, fail_on_breach: bool | None = None
) -> RunRef:
    """Record the merged run's accuracy and enforce its threshold."""
    from quality.metrics import Agreement, enforce, record_metric

    run = hub.library.get_run(ref["run_id"])
    if ref.get("merged_already"):
        return ref
    contract = hub.contract(run["dataset"])
    try:
        agreement = Agreement(*hub.library.agreement(contract.library, run["run_id"]))
        breaches = record_metric(
            hub.library.engine,
            run_id=run["run_id"],
            contract=contract,
            dimension="accuracy",
            value=agreement.ratio,
        )
    except Exception as exc:
        retry = "the run is merged and its accuracy can be measured again"
        error = fail_run(hub, run["run_id"], exc, "accuracy", retry)
        if error is exc:
            raise
        raise error from exc
    try:
        enforce(contract, breaches, fail=fail_on_breach)
    except Exception as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=now())
        raise
    return {
        **ref,
        "metrics": {**ref.get("metrics", {}), "accuracy": round(agreement.ratio, 6)},
        "accuracy_compared": agreement.compared,
        "breaches": [*ref.get("breaches", []), *(str(b) for b in breaches)],
    }
