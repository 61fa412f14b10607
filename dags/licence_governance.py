"""Licence governance (治理): whenever a library is updated, reconcile the valid licences with
it (holder died, entity no longer operating, name or legal representative changed, holder
unknown), store the findings per authority and apply each licence type's policy.

Scheduled on the libraries' Assets, which the ingest DAGs' ``publish`` step emits
(``dags.ingest``). Thin by design: the task body is one call into
:func:`licence.governance_run.run_governance` (the same as ``hub licence governance --run``);
nothing heavy at import.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task

# the same URIs as dags.ingest's Assets (not imported: that module builds every ingest DAG)
POPULATION_ASSET = Asset("library://population")
LEGAL_ENTITY_ASSET = Asset("library://legal-entity")


@dag(
    dag_id="licence_governance",
    schedule=(POPULATION_ASSET | LEGAL_ENTITY_ASSET),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["licence", "library"],
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30)},
)
def licence_governance() -> None:
    @task
    def reconcile() -> dict[str, Any]:
        from hub.settings import get_settings
        from hub.wiring import library_store, licence_service
        from licence.governance_run import run_governance

        settings = get_settings()
        result = run_governance(licence_service(settings), library_store(settings))
        return {
            "run_no": result.run_no,
            "checked": result.checked,
            "findings": len(result.findings),
            "new": result.new,
            "suspended": len(result.suspended),
        }

    reconcile()


licence_governance_dag = licence_governance()
