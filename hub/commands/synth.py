"""`hub synth`: write deterministic synthetic department files for a city of Anhui."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--city", default="3404", show_default=True, help="4-digit GB/T 2260 prefecture")
@click.option("--persons", default=1000, show_default=True, type=int)
@click.option("--entities", default=100, show_default=True, type=int)
@click.option("--seed", default=3404, show_default=True, type=int)
@click.option("--dirt", default=0.01, show_default=True, type=float, help="share of dirty rows")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
def synth(city: str, persons: int, entities: int, seed: int, dirt: float, output: Path) -> None:
    """One file per contract, in the contract's format and encoding, with controlled dirt."""
    from hub.synth import generate

    try:
        res = generate(output, city=city, persons=persons, entities=entities, seed=seed, dirt=dirt)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for ds, path in sorted(res.files.items()):
        click.echo(f"{path}  rows={res.rows[ds]}  dirty={res.dirty[ds]}")
