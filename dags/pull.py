"""DAG factory: one ``pull_<dataset>`` DAG per contract that names a source.

Scheduled on the contract's cadence (``cadence_days``, the same cadence the timeliness of the
scorecard is measured against; ``source.every_minutes`` pulls more often). A source on the
``default`` queue is pulled by the hub itself in one task (:func:`pipeline.pull.run.pull`,
which finishes a batch an earlier, killed try left first, so Airflow's retries are safe).

A source on a department's queue (``source.queue``) is read inside the department's network:
``settle`` (hub) finishes any unfinished batch, ``extract`` runs on that queue (the Edge
executor's worker in the department, :func:`pipeline.pull.edge.extract`: it reads the
department's database and sends the batch to the hub's API with the department's key, the
Airflow Connection ``hub_api``), and ``ingest`` (hub) checks and merges it. Connections are
resolved by Airflow (its secrets backends, ``AIRFLOW_CONN_<ID>``), never read from the
contract. At parse time only the contract YAMLs and Airflow's configuration are read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowFailException

from schemas.contracts import Contract, load_contracts

# as the ingest DAGs (a DAG file does not import another): an outage is retried, bad data is not
RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True}
ASSET_OF = {
    "population": Asset("library://population"),
    "legal-entity": Asset("library://legal-entity"),
}

START = datetime(2026, 1, 1)
HUB_API = "hub_api"  # the Airflow Connection of a department's worker to the hub's API
EDGE_EXECUTOR = "airflow.providers.edge3.executors.EdgeExecutor"


def edge_executor() -> str | None:
    """The Edge executor's name when Airflow is configured with it (else None: department
    queues are served by the default executor, as on the embedded default)."""
    from airflow.configuration import conf

    configured = [e.strip() for e in conf.get("core", "executor", fallback="").split(",")]
    for name in configured:
        if name.split(":")[-1] in (EDGE_EXECUTOR, "EdgeExecutor"):
            return name.split(":")[-1]
    return None


def _hub() -> Any:
    from hub.settings import get_settings
    from hub.wiring import ingest_services

    return ingest_services(get_settings())


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


def _final_on_breach(work: Any) -> Any:
    from quality.metrics import QualityBreachError
    from schemas.readers import ReadError

    try:
        return work()
    except (QualityBreachError, ReadError) as exc:  # retrying cannot fix data
        raise AirflowFailException(str(exc)) from exc


def build_pull_dag(contract: Contract) -> DAG:
    """The ``pull_<dataset>`` DAG of a contract with a source (see the module)."""
    source = contract.pull
    assert source is not None
    dataset = contract.dataset_id
    every = (
        timedelta(minutes=source.every_minutes)
        if source.every_minutes
        else timedelta(days=contract.cadence_days)
    )
    with DAG(
        dag_id=f"pull_{dataset}",
        description=f"pull {contract.title} — {contract.department} ({source.kind})",
        schedule=every,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["pull", contract.library, source.queue],
        default_args=RETRIES,
        doc_md=__doc__,
    ) as dag:
        if source.queue == "default":

            @task(outlets=[ASSET_OF[contract.library]])
            def pull() -> dict[str, Any]:
                from pipeline.pull.run import pull as pull_once

                return _final_on_breach(
                    lambda: pull_once(_hub(), dataset, airflow_connection).summary()
                )

            pull()
            return dag

        @task
        def settle() -> list[str]:
            from pipeline.pull.run import settle as finish_unfinished

            done = _final_on_breach(lambda: finish_unfinished(_hub(), dataset))
            return [r["run_id"] for r in done]

        @task(queue=source.queue, executor=edge_executor())
        def extract(_settled: list[str]) -> dict[str, Any]:
            from pipeline.pull.edge import HubApi
            from pipeline.pull.edge import extract as read_and_send

            api = HubApi.from_connection(airflow_connection(HUB_API))
            return read_and_send(contract, airflow_connection, api)

        @task(outlets=[ASSET_OF[contract.library]])
        def ingest(sent: dict[str, Any]) -> dict[str, Any]:
            from pipeline.pull.run import finish_landed

            done = _final_on_breach(lambda: finish_landed(_hub(), dataset, sent.get("run_id")))
            return {**sent, "runs": [r["run_id"] for r in done]}

        ingest(extract(settle()))
    return dag


def _contracts() -> dict[str, Contract]:
    """The project's contracts and ``HUB_CONTRACTS_EXTRA``'s (read from the environment: a
    DAG file is parsed with nothing else)."""
    import os
    from pathlib import Path

    found = load_contracts()
    extra = os.environ.get("HUB_CONTRACTS_EXTRA")
    if extra and Path(extra).is_dir():
        found.update(load_contracts(extra))
    return found


for _contract in _contracts().values():
    if _contract.pull is not None:
        globals()[f"pull_{_contract.dataset_id}"] = build_pull_dag(_contract)
