"""Airflow DAG files of the hub (the dags folder of airflow.cfg / hub.airflow_env)."""
