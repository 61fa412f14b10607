"""DAG factory: one ``eligibility_<policy>`` DAG per policy of ``schemas/policies/`` (免申即享).

Scheduled on the Asset of the library the policy reads, which the ingest DAGs' ``publish`` step
emits (:mod:`dags.ingest`): whenever that library changes, the policy is judged again over it,
the newly eligible get a prefilled application, the no-longer-eligible have theirs ended
(:func:`sharing.eligibility.run_on_store`; the same as ``hub policies run``). Re-runs are
idempotent (one application per person per policy period). At parse time only the policy YAMLs
are read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from schemas.policies import Policy, catalogue

# the same URIs as dags.ingest's Assets (not imported: that module builds every ingest DAG)
ASSET_OF = {
    "population": Asset("library://population"),
    "legal-entity": Asset("library://legal-entity"),
}


def build_eligibility_dag(policy: Policy) -> DAG:
    """The ``eligibility_<policy>`` DAG: one task, ``judge``."""
    with DAG(
        dag_id=f"eligibility_{policy.id.replace('-', '_')}",
        description=f"{policy.title_zh} — {policy.department}",
        schedule=[ASSET_OF[policy.library]],
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        tags=["eligibility", policy.library],
        default_args={"retries": 3, "retry_delay": timedelta(seconds=30)},
    ) as dag:

        @task
        def judge() -> dict[str, Any]:
            import datetime as dt

            from hub.settings import get_settings
            from hub.wiring import ingest_services
            from sharing.eligibility import run_on_store
            from sharing.forms import StoreFormReads
            from storage.library import GoldenReader

            hub = ingest_services(get_settings())
            departments = {k: c.department for k, c in hub.contracts.items()}
            from sharing.materials import MaterialStore

            materials = MaterialStore(hub.library.engine, hub.objects)
            reads = StoreFormReads(
                hub.library.engine,
                GoldenReader(hub.library),
                departments,
                hub.objects,
                materials.refs,
            )
            today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()  # Beijing
            return run_on_store(policy, hub.library, reads, today).to_json()

        judge()
    return dag


for _policy in catalogue().values():
    globals()[f"eligibility_{_policy.id.replace('-', '_')}"] = build_eligibility_dag(_policy)
