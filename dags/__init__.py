"""Airflow DAG files of the hub (the dags folder of airflow.cfg / hub.airflow_env).

Thin process entry points: each task calls one function of a room, with services from
``hub.wiring``; nothing heavy is imported at module level, since Airflow parses these files
constantly.

Public surface: ``ingest`` (one ``ingest_<dataset>`` DAG per contract and the cross-source
checks), ``anchor`` (sequence, anchor, attach receipts), ``expire_licences`` (daily),
``licence_governance`` (licences against the libraries, on every library update).
"""
