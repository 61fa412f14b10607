"""DAG factory: one ``ingest_<dataset>`` DAG per contract, and the cross-source check DAG.

Thin on purpose: each task is one call into a step of :mod:`pipeline` (the merge task also
measures the run's accuracy, :mod:`pipeline.accuracy`) and passes the run's reference
(:class:`pipeline.refs.RunRef`: run id, object keys, counts) through XCom, never data. At parse
time only the contract YAMLs are read. ``publish`` emits the library's Asset event;
``library_cross_checks`` is scheduled on those Assets. Tasks are process entry points, so they
build their services with :mod:`hub.wiring` from the settings in the environment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.exceptions import AirflowFailException

from schemas.contracts import Contract, load_contracts

# A store or database outage is retried; a quality breach or an unreadable file is final
# (retrying cannot fix data).
RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True}

POPULATION_ASSET = Asset("library://population")
LEGAL_ENTITY_ASSET = Asset("library://legal-entity")
ASSET_OF = {"population": POPULATION_ASSET, "legal-entity": LEGAL_ENTITY_ASSET}


def _hub() -> Any:
    from hub.settings import get_settings
    from hub.wiring import ingest_services

    return ingest_services(get_settings())


def _final_on_breach(step: Any, ref: dict[str, Any]) -> dict[str, Any]:
    """Run a step that reads or judges the data; a quality breach or a file that cannot be read
    fails the task without retries."""
    from quality.metrics import QualityBreachError
    from schemas.readers import ReadError

    try:
        return dict(step(_hub(), ref))
    except (QualityBreachError, ReadError) as exc:
        raise AirflowFailException(str(exc)) from exc


def build_ingest_dag(contract: Contract) -> DAG:
    """The ``ingest_<dataset>`` DAG: land → check → quarantine → merge → publish (the check
    task reads the landed file itself: see :mod:`pipeline.check`; the quarantine task keeps
    the rejected rows, then judges the thresholds)."""
    dataset = contract.dataset_id
    with DAG(
        dag_id=f"ingest_{dataset}",
        description=f"{contract.title} — {contract.department}",
        schedule=None,
        catchup=False,
        max_active_runs=1,
        tags=["ingest", contract.library],
        default_args=RETRIES,
        params={"file": Param("", type="string", description="path of the department file")},
        doc_md=__doc__,
    ) as dag:

        @task
        def land(params: dict[str, Any] | None = None) -> dict[str, Any]:
            from pathlib import Path

            from pipeline.land import land as land_step

            path = Path(str((params or {})["file"]))
            return land_step(_hub(), dataset, path.read_bytes(), path.name)

        @task
        def check(ref: dict[str, Any]) -> dict[str, Any]:
            from pipeline.check import check as check_step

            return ref if ref["already_done"] else _final_on_breach(check_step, ref)

        @task
        def quarantine(ref: dict[str, Any]) -> dict[str, Any]:
            from pipeline.quarantine import quarantine as quarantine_step

            return ref if ref["already_done"] else _final_on_breach(quarantine_step, ref)

        @task
        def merge(ref: dict[str, Any]) -> dict[str, Any]:
            from pipeline.accuracy import measure_accuracy
            from pipeline.merge import merge as merge_step

            if ref["already_done"]:
                return ref
            # the accuracy against the authoritative sources is measured once the rows are in
            return _final_on_breach(measure_accuracy, _final_on_breach(merge_step, ref))

        @task(outlets=[ASSET_OF[contract.library]])
        def publish(ref: dict[str, Any]) -> dict[str, Any]:
            from pipeline.publish import publish as publish_step

            return publish_step(_hub(), ref)

        publish(merge(quarantine(check(land()))))
    return dag


def build_cross_check_dag() -> DAG:
    """Runs the cross-source checks whenever either library is updated."""
    with DAG(
        dag_id="library_cross_checks",
        schedule=(POPULATION_ASSET | LEGAL_ENTITY_ASSET),
        catchup=False,
        tags=["library"],
        default_args=RETRIES,  # it only reads: a try lost with its worker runs again
    ) as dag:

        @task
        def cross_checks() -> dict[str, Any]:
            from pipeline.cross_checks import cross_checks as run_checks

            return dict(run_checks(_hub()))

        cross_checks()
    return dag


for _contract in load_contracts().values():
    globals()[f"ingest_{_contract.dataset_id}"] = build_ingest_dag(_contract)
library_cross_checks = build_cross_check_dag()
