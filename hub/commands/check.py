"""``hub check id|uscc|licence-id VALUE...``: validate national identifiers from the shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable

import click

from schemas import licence_id, resident_id, uscc
from schemas.identifiers import IdCheck

VALIDATORS: dict[str, Callable[[str], IdCheck]] = {
    "id": resident_id.validate,
    "uscc": uscc.validate,
    "licence-id": licence_id.validate,
}


def _values(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin)
        else:
            out.append(value)
    return out


@click.command()
@click.argument("kind", type=click.Choice(sorted(VALIDATORS)))
@click.argument("values", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON array of results")
def check(kind: str, values: tuple[str, ...], as_json: bool) -> None:
    """Validate each VALUE as a resident ID, USCC or licence identifier.

    With `-` as a value, values are read from standard input, one per line. Exit status 0 when
    every value is valid, 1 otherwise.
    """
    results = [VALIDATORS[kind](value) for value in _values(values)]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        for result in results:
            if result.valid:
                extra = ", ".join(f"{k}={v}" for k, v in result.details.items())
                click.echo(f"{result.normalised}\tvalid\t{extra}")
            else:
                click.echo(f"{result.value}\t{result.reason}\t{result.explanation}")
    sys.exit(0 if all(r.valid for r in results) else 1)
