"""Composition root: settings, the hub command line, wiring of back ends.

The one place that knows the whole house: the settings (``HUB_*`` variables, read once),
``wiring``, which builds every service from them for the command line, the API and the DAGs,
the ``hub`` command line itself (``cli`` and one module per group in ``commands``), the
Airflow environment, and the synthetic city behind ``make demo`` and the benchmarks. It may
import every room; no room imports it.

Public surface: ``settings``, ``wiring``, ``cli``, ``commands`` (a package; ``commands.common``
holds what the groups share), ``publish_worker`` (the upload-ingest worker process),
``airflow_env``, ``demo``, ``synth``.
"""
