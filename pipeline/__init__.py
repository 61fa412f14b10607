"""The ingest pipeline: the steps that take a department file into a library.

land → check → quarantine → merge → accuracy → publish, one module per step, each a plain
function of an :class:`~pipeline.services.IngestServices` and a :class:`~pipeline.refs.RunRef`
(the small typed reference the steps hand each other, through Airflow XCom in the DAGs). Each
step does what its name says and is idempotent; :func:`pipeline.run.run_pipeline` calls them in a
row. After the merge, :mod:`pipeline.cross_checks` runs the checks that span sources;
:mod:`pipeline.resubmit` exports a run's quarantined rows and ingests their correction.

Public surface: ``refs``, ``services``, ``land``, ``check``, ``quarantine``, ``merge``,
``accuracy``, ``publish``, ``run``, ``cross_checks``, ``resubmit``; ``work`` holds the work
files the steps share. This room imports only ``schemas``, ``quality``, ``storage`` and
``ledger``; its services are handed to it (``hub.wiring`` builds them from the settings).
"""
