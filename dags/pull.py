"""DAG factory: one ``pull_<dataset>`` DAG per contract that names a source.

Scheduled on the contract's cadence (``cadence_days``, the same cadence the timeliness of the
scorecard is measured against). Its one task pulls what changed since the last merged run and
takes it through the ingest steps (:func:`pipeline.pull.run.pull`, which finishes a batch an
earlier, killed try left first, so Airflow's retries are safe). The task runs on the source's
queue (``source.queue``): an Edge worker inside the department's network serves that queue, so
the department's database is reached from inside its own network. Connections are resolved by
Airflow (its secrets backends, ``AIRFLOW_CONN_<ID>``), never read from the contract. At parse
time only the contract YAMLs are read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from dags.ingest import ASSET_OF, RETRIES
from schemas.contracts import Contract, load_contracts

START = datetime(2026, 1, 1)


def airflow_connection(conn_id: str) -> Any:
    """A connection as Airflow resolves it, in the form :mod:`pipeline.pull` reads."""
    from airflow.sdk import Connection as AirflowConnection

    from pipeline.pull.connections import Connection

    found = AirflowConnection.get(conn_id)
    return Connection(
        conn_id,
        found.conn_type or "",
        found.host or "",
        found.port,
        found.login or "",
        found.password or "",
        found.schema or "",
        dict(found.extra_dejson or {}),
    )


def build_pull_dag(contract: Contract) -> DAG:
    """The ``pull_<dataset>`` DAG of a contract with a source (see the module)."""
    assert contract.pull is not None
    dataset = contract.dataset_id
    with DAG(
        dag_id=f"pull_{dataset}",
        description=f"pull {contract.title} — {contract.department} ({contract.pull.kind})",
        schedule=timedelta(days=contract.cadence_days),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["pull", contract.library, contract.pull.queue],
        default_args={**RETRIES, "queue": contract.pull.queue},
        doc_md=__doc__,
    ) as dag:

        @task(outlets=[ASSET_OF[contract.library]])
        def pull() -> dict[str, Any]:
            from hub.settings import get_settings
            from hub.wiring import ingest_services
            from pipeline.pull.run import pull as pull_once
            from quality.metrics import QualityBreachError
            from schemas.readers import ReadError

            hub = ingest_services(get_settings())
            try:
                return pull_once(hub, dataset, airflow_connection).summary()
            except (QualityBreachError, ReadError) as exc:  # retrying cannot fix data
                raise AirflowFailException(str(exc)) from exc

        pull()
    return dag


for _contract in load_contracts().values():
    if _contract.pull is not None:
        globals()[f"pull_{_contract.dataset_id}"] = build_pull_dag(_contract)
