"""``hub quality``: the quality scorecard per dataset and department, and GX Data Docs."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from hub.settings import get_settings
from quality.charts import scorecard_table, svg_trend
from schemas.contracts import DIMENSIONS


@click.group()
def quality() -> None:
    """Quality scorecards (GB/T 36344 dimensions) and Great Expectations Data Docs."""


@quality.command()
@click.option("--dataset", help="only this dataset id")
@click.option("--department", help="only datasets of departments whose name contains this")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also write an HTML page with a trend chart per dimension",
)
def report(dataset: str | None, department: str | None, html_file: Path | None) -> None:
    """Print the scorecard: one line per checked run with its ratios and verdict."""
    from quality.metrics import scorecard
    from storage.library import engine_for

    settings = get_settings()
    runs = scorecard(engine_for(settings.db_url), dataset=dataset, department=department)
    if not runs:
        click.echo("no quality runs recorded yet (run an ingest first)")
    else:
        click.echo(scorecard_table(runs))
    if html_file is not None:
        html_file.write_text(
            render_html(runs, dataset=dataset, department=department), encoding="utf-8"
        )
        click.echo(f"wrote {html_file}")


@quality.command("gx-docs")
@click.option(
    "--library/--no-library",
    default=True,
    help="validate the library tables through the SQL datasource first",
)
def gx_docs(library: bool) -> None:
    """Build Great Expectations Data Docs under HUB_HOME (validating the library tables first)."""
    from quality import gx

    settings = get_settings()
    settings.ensure_dirs()
    if library:
        from storage.library import LibraryStore, engine_for, subject_queries

        LibraryStore(engine_for(settings.db_url))  # creates the library tables if missing
        path = gx.checkpoint_library(settings, subject_queries())
        click.echo(f"library validation archived at {path}")
    for where in gx.build_docs(settings):
        click.echo(f"Data Docs: {where}")


def render_html(
    runs: Sequence[dict[str, Any]], *, dataset: str | None = None, department: str | None = None
) -> str:
    """A self-contained scorecard page: per dataset, a trend chart per dimension and the runs."""
    from schemas.contracts import load_contracts

    contracts = load_contracts()
    scope = " · ".join(x for x in (dataset, department) if x) or "all datasets"
    body = [f"<h1>Data quality scorecard 数据质量评分卡</h1><p>{html.escape(scope)}</p>"]
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_dataset.setdefault(r["dataset"], []).append(r)
    if not by_dataset:
        body.append("<p>No quality runs recorded yet.</p>")
    for ds, ds_runs in sorted(by_dataset.items()):
        contract = contracts.get(ds)
        title = f"{ds} — {contract.title}" if contract else ds
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append(f"<p>{html.escape(ds_runs[-1]['department'])}</p><div class='charts'>")
        for dim in DIMENSIONS:
            points = [
                (f"{r['checked_at']:%Y-%m-%d %H:%M} {r['run_id']}", r["metrics"][dim])
                for r in ds_runs
                if dim in r["metrics"]
            ]
            if not points:
                continue
            limit = contract.thresholds.get(dim) if contract else None
            body.append(
                f"<figure><figcaption>{dim}</figcaption>{svg_trend(points, limit)}</figure>"
            )
        body.append(
            "</div><table><tr><th>checked at</th><th>run</th><th>status</th><th>rows</th>"
            "<th>quarantined</th>"
            + "".join(f"<th>{d}</th>" for d in DIMENSIONS)
            + "<th>breaches</th></tr>"
        )
        for r in ds_runs:
            cells = "".join(
                f"<td>{r['metrics'][d]:.4f}</td>" if d in r["metrics"] else "<td>–</td>"
                for d in DIMENSIONS
            )
            body.append(
                f"<tr class='{r['status']}'><td>{r['checked_at']:%Y-%m-%d %H:%M:%S}</td>"
                f"<td>{html.escape(r['run_id'])}</td><td>{r['status']}</td><td>{r['rows_in']}</td>"
                f"<td>{r['rows_quarantined']}</td>{cells}<td>{html.escape(r['breaches'])}</td></tr>"
            )
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}tr.degraded{background:#fff0f0}"
        ".charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}"
    )
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        f"<title>Quality scorecard</title><style>{style}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
