"""``hub claims list`` (the claim-type catalogue) and ``hub claims check`` (staff questions)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from hub.commands.common import fail


@click.group()
def claims() -> None:
    """Claims (核验, 证明免提交): yes/no questions instead of paper certificates."""


@claims.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the catalogue as JSON")
def list_claims(as_json: bool) -> None:
    """The claim types approval systems may ask (grant them with
    `hub client grant CLIENT --scope claim:<type> --purpose ...`)."""
    from schemas import claims as catalogue

    types = list(catalogue.catalogue().values())
    if as_json:
        click.echo(json.dumps([c.to_json() for c in types], ensure_ascii=False, indent=2))
        return
    for c in types:
        params = ", ".join(f"{p.name}:{p.type}{'' if p.required else '?'}" for p in c.params)
        click.echo(f"{c.id}({params})  {c.title_zh} / {c.title_en}")
        click.echo(f"    replaces {'、'.join(c.replaces)}; reads {', '.join(c.reads)}")


@claims.command("check")
@click.argument("subject")
@click.argument("claim_type")
@click.argument("params", nargs=-1)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="answer as the library knew it at the end of this day (default: now)",
)
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
def check(
    subject: str, claim_type: str, params: tuple[str, ...], as_of: dt.datetime | None, as_json: bool
) -> None:
    """Does CLAIM_TYPE hold of SUBJECT (resident ID or USCC)? PARAMS are NAME=VALUE.

    Prints true, false or undetermined (with the reason), never a value of the library.
    Exit status 0 holds, 1 does not hold, 2 undetermined.
    """
    from hub.settings import get_settings
    from hub.wiring import library_store
    from sharing.claims import REASONS, evaluate
    from sharing.facts import StoreFacts
    from sharing.service import ClaimRequestError, normalise, parse_claims

    given: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"parameter {item!r} is not NAME=VALUE")
        given[name] = value
    try:
        (parsed,) = parse_claims([(claim_type, given)])
    except ClaimRequestError as exc:
        fail(str(exc))
    day = as_of.date() if as_of else None
    facts = StoreFacts(library_store(get_settings()), None, day)
    who = normalise(subject)
    answer = evaluate(facts, parsed.claim, parsed.typed, parsed.params, who, day or dt.date.today())
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        line = f"{answer.type} {json.dumps(answer.params, ensure_ascii=False)}: "
        if answer.reason is None:
            line += "true" if answer.holds is True else "false"
        else:
            en, zh = REASONS[answer.reason]
            line += f"undetermined ({answer.reason}: {zh} / {en})"
        click.echo(line)
    sys.exit({True: 0, False: 1}.get(answer.holds, 2))  # type: ignore[call-overload]
