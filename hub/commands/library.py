"""`hub library person ID | entity USCC | check`: read golden records with their provenance."""

from __future__ import annotations

import json
from datetime import date

import click

from hub.settings import get_settings


@click.group()
def library() -> None:
    """Population and legal-entity libraries: golden records, history, cross-source checks."""


def _show(record: object | None, what: str, history: bool) -> None:
    from storage.library import GoldenRecord

    if record is None:
        raise click.ClickException(f"{what} not in the library")
    assert isinstance(record, GoldenRecord)
    out: dict[str, object] = {"library": record.library, "subject": record.subject, "fields": {}}
    for name, f in sorted(record.fields.items()):
        entry: dict[str, object] = {
            "value": f.value,
            "source": f.dataset,
            "run": f.run_id,
            "at": f.observed_at.isoformat(),
            "authoritative": f.authoritative,
        }
        if history:
            entry["history"] = [
                {"value": h.value, "source": h.dataset, "at": h.observed_at.isoformat()}
                for h in record.history[name]
            ]
        out["fields"][name] = entry  # type: ignore[index]
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


def _store():  # type: ignore[no-untyped-def]
    from hub.wiring import library_store

    return library_store(get_settings())


@library.command()
@click.argument("id_number")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--history", is_flag=True, help="every value each source ever sent")
def person(id_number: str, as_of: object, history: bool) -> None:
    """A person's golden record (who said each value, and when)."""
    from schemas.resident_id import normalise

    day = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    _show(_store().person(normalise(id_number), day), "person", history)


@library.command()
@click.argument("uscc")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--history", is_flag=True, help="every value each source ever sent")
def entity(uscc: str, as_of: object, history: bool) -> None:
    """A legal entity's golden record."""
    from schemas.uscc import normalise

    day: date | None = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    _show(_store().entity(normalise(uscc), day), "entity", history)


@library.command("check")
def check_cmd() -> None:
    """Cross-source checks: legal representatives exist; birth date/sex agree with the ID."""
    from hub.wiring import ingest_services
    from pipeline.cross_checks import cross_checks

    click.echo(
        json.dumps(cross_checks(ingest_services(get_settings())), ensure_ascii=False, indent=2)
    )
