"""``hub forms list|show|prefill``: the forms (零填报) and a form prefilled for an applicant."""

from __future__ import annotations

import datetime as dt
import json

import click

from hub.commands.common import fail


@click.group()
def forms() -> None:
    """Forms that fill themselves (零填报) from the libraries, licences and materials."""


@forms.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the forms as JSON")
def list_forms(as_json: bool) -> None:
    """The forms approval systems may prefill (grant them with
    `hub client grant CLIENT --scope forms --fields FORM --purpose ...`)."""
    from schemas import forms as catalogue

    found = list(catalogue.catalogue().values())
    if as_json:
        click.echo(json.dumps([f.to_json() for f in found], ensure_ascii=False, indent=2))
        return
    for f in found:
        own = sum(x.kind != "applicant" for x in f.fields)
        click.echo(f"{f.id}  {f.title_zh} / {f.title_en}  ({f.applicant}; {f.department})")
        click.echo(f"    {len(f.fields)} fields, {own} from the hub")


@forms.command("show")
@click.argument("form_id")
@click.option("--json", "as_json", is_flag=True, help="print the form as JSON")
def show(form_id: str, as_json: bool) -> None:
    """FORM_ID's fields and where each comes from."""
    from schemas import forms as catalogue

    try:
        form = catalogue.get(form_id)
    except catalogue.FormError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(form.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"{form.id}  {form.title_zh} / {form.title_en}  ({form.department})")
    for f in form.fields:
        if f.kind == "library":
            where = f"{f.source}" + (f" via {'.'.join(f.via)}" if f.via else "")
        elif f.kind == "derived":
            where = f"{f.derivation}" + (f" of {f.source}" if f.source else "")
        elif f.kind == "licence":
            where = f"licence {f.licence_type} {f.licence_field}"
        elif f.kind == "material":
            where = f"material {f.material}"
        else:
            where = "the applicant enters it"
        click.echo(f"  {f.key:<24} {f.label}  <- {where}")


@forms.command("prefill")
@click.argument("form_id")
@click.argument("applicant")
@click.option(
    "--on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="the day ages and licence validity are computed for (default: today)",
)
@click.option("--json", "as_json", is_flag=True, help="print the prefilled form as JSON")
def prefill_cmd(form_id: str, applicant: str, on: dt.datetime | None, as_json: bool) -> None:
    """FORM_ID prefilled for APPLICANT (resident ID or USCC), with each value's source."""
    from hub.settings import get_settings
    from hub.wiring import ingest_services
    from schemas import forms as catalogue
    from sharing.forms import StoreFormReads, allow_all, applicant_id, prefill
    from storage.library import GoldenReader

    try:
        form = catalogue.get(form_id)
        who = applicant_id(form, applicant)
    except ValueError as exc:  # an unknown form (FormError) or a malformed applicant ID
        fail(str(exc))
    hub = ingest_services(get_settings())
    departments = {k: c.department for k, c in hub.contracts.items()}
    from sharing.materials import MaterialStore

    materials = MaterialStore(hub.library.engine, hub.objects)
    reads = StoreFormReads(
        hub.library.engine, GoldenReader(hub.library), departments, hub.objects, materials.refs
    )
    out = prefill(form, who, reads, allow_all, on.date() if on else dt.date.today())
    if as_json:
        click.echo(json.dumps(out.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{form.title_zh} for {who} ({len(out.fields) - len(out.to_fill)}/{len(out.fields)} filled)"
    )
    for f in out.fields:
        if f.status == "filled":
            src = f" [{f.source['dataset']} {f.source['run_id']}]" if f.source else ""
            click.echo(f"  {f.label}: {f.value}{src}")
        else:
            click.echo(f"  {f.label}: ({f.status}{': ' + f.note if f.note else ''})")
