"""Daily DAG: mark licences past their end of validity as expired (each one a ledger entry).

Thin by design: the task body is one call into ``licence.service`` (built by ``hub.wiring``);
nothing heavy at import.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="expire_licences",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    tags=["licence"],
    # a try lost with its worker runs again; licences already expired are not due again
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30)},
)
def expire_licences() -> None:
    @task
    def expire(ds: str | None = None) -> int:
        import datetime as dt

        from hub.settings import get_settings
        from hub.wiring import licence_service

        today = dt.date.fromisoformat(ds) if ds else None
        return len(licence_service(get_settings()).expire_due(today))

    expire()


expire_licences_dag = expire_licences()
