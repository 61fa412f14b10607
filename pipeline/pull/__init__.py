"""Pipelines that pull: department systems read on the contract's cadence, incrementally.

A contract's ``source`` (:class:`schemas.contracts.PullSource`) names a SQL table or query,
a bucket prefix or folder, or an HTTP endpoint serving JSON Lines pages.
:func:`pipeline.pull.run.pull` reads what changed since the last merged run (``sources``),
writes it as a file of the contract's format and lands it as a run (``batches``), which then
takes the path a delivered file takes: the same checks, quarantine, merge and publish.
Tombstones (a deleted flag, or the subjects missing from a snapshot) become withdrawal
statements in the same merge. The watermark is kept per run (``pull_batches``) and counts only
once the run's merge has committed, so a pull killed at any step and run again neither skips
nor duplicates a row.

Connections are Airflow Connection ids; :mod:`pipeline.pull.connections` reads them from the
environment (``AIRFLOW_CONN_<ID>``, which Airflow reads too) for ``hub pull`` and takes the
resolver the DAG hands it (Airflow's own) under Airflow.
"""
