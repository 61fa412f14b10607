"""Every few minutes: sequence the log, anchor the checkpoint, attach the licences' receipts.

Thin by design: the task body is one call into :func:`licence.receipts.anchor_and_attach` (the
same function behind ``hub ledger checkpoint``); nothing heavy at import. A store or anchor
outage is retried; an unreachable remote anchor keeps its checkpoint queued for the next run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="anchor",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["ledger", "licence"],
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30)},
)
def anchor() -> None:
    @task
    def anchor_and_attach() -> dict[str, Any]:
        from hub.settings import get_settings
        from hub.wiring import licence_service
        from licence.receipts import anchor_and_attach as run_round

        done = run_round(licence_service(get_settings()))
        size = None if done.checkpoint is None else done.checkpoint.checkpoint.size
        return {"checkpoint_size": size, "receipts_attached": done.attached}

    anchor_and_attach()


anchor_dag = anchor()
