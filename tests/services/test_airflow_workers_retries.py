"""Every task of every DAG is retried: a worker lost mid-task fails its try (the scheduler's
heartbeat timeout), and only a retry runs it again on a live worker. Fast tier: the DAG files
are only parsed."""

from __future__ import annotations

import importlib
import pkgutil


def test_every_task_of_every_dag_has_retries() -> None:
    from airflow.sdk import DAG

    import dags

    found: dict[str, int] = {}
    for module in pkgutil.iter_modules(dags.__path__):
        loaded = importlib.import_module(f"dags.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, DAG):
                for task in value.tasks:
                    found[f"{value.dag_id}.{task.task_id}"] = task.retries
    assert {"expire_licences.expire", "library_cross_checks.cross_checks"} <= set(found)
    assert {name: n for name, n in found.items() if n < 1} == {}
