"""`hub ingest FILE --dataset ID`, `hub pull DATASET` and `hub runs`: put a department's data
through the pipeline, and take a run back (`hub runs retract RUN --reason … --as USER`)."""

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
@click.argument("dataset")
@click.option("--warn-only", is_flag=True, help="do not fail the run on a threshold breach")
def pull(dataset: str, warn_only: bool) -> None:
    """Pull DATASET once from the source its contract names (what its pull DAG runs).

    Reads what changed since the last merged run and takes it through the pipeline. The
    contract's connection is read from AIRFLOW_CONN_<ID> (Airflow's URI form), as Airflow does.
    """
    from hub.wiring import ingest_services
    from pipeline.pull.connections import from_environment
    from pipeline.pull.run import pull as pull_once
    from pipeline.refs import IngestError
    from quality.metrics import QualityBreachError
    from schemas.readers import ReadError

    hub = ingest_services(get_settings())
    try:
        result = pull_once(
            hub, dataset, from_environment(), fail_on_breach=False if warn_only else None
        )
    except (ReadError, IngestError, QualityBreachError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result.summary(), ensure_ascii=False, indent=2, default=str))


@click.group(invoke_without_command=True)
@click.option("--dataset", "-d", default=None, help="only this dataset")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def runs(ctx: click.Context, dataset: str | None, as_json: bool) -> None:
    """List ingest runs with their counts and status; `retract` takes one back."""
    from hub.wiring import library_store

    if ctx.invoked_subcommand is not None:
        return
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


@runs.command("retract")
@click.argument("run_id")
@click.option("--reason", required=True, help="why the department takes the run back")
@click.option("--as", "username", required=True, help="the publisher (or admin) account")
def retract(run_id: str, reason: str, username: str) -> None:
    """Take back a whole delivered RUN_ID: its values stop counting, the golden records fall
    back to the other runs, its statements stay as history; audited in the ledger."""
    from api.pages.accounts import StaffAccounts
    from hub.wiring import ingest_services, ledger_service
    from pipeline.refs import IngestError
    from pipeline.retract import retract as take_back

    settings = get_settings()
    hub = ingest_services(settings)
    staff = StaffAccounts(hub.library.engine).get(username)
    if staff is None or not staff.may("publisher"):
        raise click.ClickException(f"{username!r} is not an active publisher or admin account")
    try:
        done = take_back(
            hub, run_id, reason, staff.username, ledger_service(settings).append_many_in
        )
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"retracted {done['run_id']} ({done['dataset']}): {done['subjects']} subject(s) fall "
        f"back to the other runs; ledger entry {done['ledger_entry']}"
    )
