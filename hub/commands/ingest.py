"""`hub ingest FILE --dataset ID` and `hub runs`: put a department file through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hub.settings import get_settings


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", "-d", required=True, help="dataset id of the file's contract")
@click.option(
    "--airflow/--in-process",
    "via_airflow",
    default=False,
    help="run the ingest_<dataset> DAG with dag.test() instead of calling the steps directly",
)
@click.option("--warn-only", is_flag=True, help="do not fail the run on a threshold breach")
def ingest(file: Path, dataset: str, via_airflow: bool, warn_only: bool) -> None:
    """Land, read, check, quarantine, merge and publish one department FILE."""
    from hub.wiring import ingest_services
    from pipeline.refs import IngestError
    from pipeline.run import run_pipeline
    from quality.metrics import QualityBreachError
    from schemas.readers import ReadError

    settings = get_settings()
    if via_airflow:
        from hub.airflow_env import run_dag_test

        summary = run_dag_test(settings, dataset, file)
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        return
    hub = ingest_services(settings)
    try:
        ref = run_pipeline(
            hub, dataset, file.read_bytes(), file.name, fail_on_breach=False if warn_only else None
        )
    except (ReadError, IngestError, QualityBreachError) as exc:
        raise click.ClickException(str(exc)) from None
    keys = ("run_id", "dataset", "status", "message", "rows_in", "rows_accepted")
    keys += ("rows_quarantined", "quarantine_key", "facts", "breaches", "metrics", "asset")
    click.echo(json.dumps({k: ref[k] for k in keys if k in ref}, ensure_ascii=False, indent=2))


@click.command()
@click.option("--dataset", "-d", default=None, help="only this dataset")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def runs(dataset: str | None, as_json: bool) -> None:
    """List ingest runs with their counts and status."""
    from hub.wiring import library_store

    lib = library_store(get_settings())
    rows = lib.list_runs(dataset)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo("no runs")
    for r in rows:
        click.echo(
            f"{r['run_id']}  {r['status']:<11} in={r['rows_in']} ok={r['rows_accepted']} "
            f"quarantined={r['rows_quarantined']}  {r['received_at']:%Y-%m-%d %H:%M}  "
            f"{r['message'] or ''}"
        )
