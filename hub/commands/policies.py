"""``hub policies list|run|applications``: eligibility policies (免申即享) and what they found."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import click

from hub.commands.common import fail

if TYPE_CHECKING:
    from schemas.policies import Policy


@click.group()
def policies() -> None:
    """Benefits that find their people (免申即享): policies, runs and their applications."""


def _policy(policy_id: str) -> Policy:
    from schemas import policies as catalogue

    try:
        return catalogue.get(policy_id)
    except catalogue.PolicyError as exc:
        fail(str(exc))


@policies.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the policies as JSON")
def list_policies(as_json: bool) -> None:
    """The policies, their rules and the forms they generate (grant an approval system one
    with `hub client grant CLIENT --scope policies --fields POLICY --purpose ...`)."""
    from schemas import policies as catalogue

    found = list(catalogue.catalogue().values())
    if as_json:
        click.echo(json.dumps([p.to_json() for p in found], ensure_ascii=False, indent=2))
        return
    for p in found:
        click.echo(f"{p.id}  {p.title_zh} / {p.title_en}  ({p.department})")
        click.echo(f"    form {p.form}, one application per {p.period}; rule:")
        for c in p.rule:
            click.echo(f"      {json.dumps(c.to_json(), ensure_ascii=False)}")


@policies.command("run")
@click.argument("policy_id")
@click.option(
    "--on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="the day of the run: the rule is judged on the first day of its period (today)",
)
def run(policy_id: str, on: dt.datetime | None) -> None:
    """Judge POLICY_ID over the library now: applications for the newly eligible, the
    no-longer-eligible ended (what its Airflow DAG does when a library changes)."""
    from hub.settings import get_settings
    from hub.wiring import ingest_services
    from sharing.eligibility import run_on_store
    from sharing.forms import StoreFormReads
    from storage.library import GoldenReader

    policy = _policy(policy_id)
    hub = ingest_services(get_settings())
    departments = {k: c.department for k, c in hub.contracts.items()}
    from sharing.materials import MaterialStore

    materials = MaterialStore(hub.library.engine, hub.objects)
    reads = StoreFormReads(
        hub.library.engine, GoldenReader(hub.library), departments, hub.objects, materials.refs
    )
    result = run_on_store(policy, hub.library, reads, on.date() if on else dt.date.today())
    click.echo(json.dumps(result.to_json(), ensure_ascii=False))


@policies.command("applications")
@click.argument("policy_id")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="only those created or ended after this time (UTC)",
)
@click.option("--json", "as_json", is_flag=True, help="print the applications as JSON")
def applications(policy_id: str, since: dt.datetime | None, as_json: bool) -> None:
    """The applications POLICY_ID generated (and ended), oldest change first."""
    from hub.settings import get_settings
    from hub.wiring import library_store
    from sharing.eligibility import ApplicationStore

    policy = _policy(policy_id)
    rows = ApplicationStore(library_store(get_settings()).engine).since(policy.id, since, 10_000)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        form = r["form"]
        line = f"{r['application_id']}  {r['subject']}  {r['period']}  {r['status']}"
        click.echo(f"{line}  {form['filled']}/{form['total']} filled  {r['updated_at']}")
        if r["end_reason"]:
            click.echo(f"    {r['end_reason']}")
