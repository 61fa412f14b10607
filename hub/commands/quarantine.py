"""`hub quarantine list|export|resubmit`: what data stewards do with rejected rows."""

from __future__ import annotations

from pathlib import Path

import click

from hub.settings import get_settings


@click.group()
def quarantine() -> None:
    """Rejected rows per run: list them, export for correction, re-submit the corrected file."""


@quarantine.command("list")
@click.option("--dataset", "-d", default=None)
def list_cmd(dataset: str | None) -> None:
    """Quarantined runs with row counts and reason-code totals."""
    from hub.wiring import library_store

    rows = library_store(get_settings()).list_quarantine(dataset)
    if not rows:
        click.echo("nothing in quarantine")
    for q in rows:
        again = f"  resubmitted as {q['resubmitted_as']}" if q["resubmitted_as"] else ""
        click.echo(f"{q['run_id']}  rows={q['rows']}  {q['reasons']}{again}")


@quarantine.command()
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(run_id: str, output: Path) -> None:
    """Write RUN_ID's quarantined rows as CSV (UTF-8 with BOM, formulas neutralised)."""
    from hub.wiring import ingest_services
    from pipeline.refs import IngestError
    from pipeline.resubmit import export_quarantine

    try:
        output.write_bytes(export_quarantine(ingest_services(get_settings()), run_id))
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}")


@quarantine.command()
@click.argument("run_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def resubmit(run_id: str, file: Path) -> None:
    """Ingest the corrected export FILE as a new run of RUN_ID's dataset."""
    import json

    from hub.wiring import ingest_services
    from pipeline.refs import IngestError
    from pipeline.resubmit import resubmit as do_resubmit
    from schemas.readers import ReadError

    try:
        ref = do_resubmit(ingest_services(get_settings()), run_id, file.read_bytes())
    except (IngestError, ReadError) as exc:
        raise click.ClickException(str(exc)) from None
    keys = ("run_id", "status", "rows_in", "rows_accepted", "rows_quarantined", "message")
    click.echo(json.dumps({k: ref.get(k) for k in keys}, ensure_ascii=False, indent=2))
