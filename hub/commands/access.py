"""``hub access``: the access requests the owning departments decide (共享申请审批).

``hub access approver USER DEPARTMENT`` binds an ``approver`` staff account to the department it
decides for; ``hub access list`` shows requests with their age and legal deadline; ``hub access
approve ID --as USER`` (``--fields`` to narrow) and ``hub access refuse ID --as USER --reason``
record that department's decision, as the ``/access`` page does.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click


def _open() -> tuple[Any, Any, Any]:
    """The desk, the request store and the staff accounts of this hub."""
    from api.clients import ClientStore
    from api.pages.accounts import StaffAccounts
    from api.purposes import registry
    from hub.settings import get_settings
    from hub.wiring import ledger_service
    from schemas.contracts import load_contracts
    from schemas.sharing import field_owners
    from sharing.access import AccessDesk
    from storage.access_requests import AccessRequestStore
    from storage.library import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    engine = engine_for(settings.db_url)
    contracts = tuple(load_contracts().values())
    purposes = registry(settings.home)
    clients = ClientStore(engine, purposes=purposes, contracts=contracts)
    store = AccessRequestStore(engine)
    desk = AccessDesk(
        store,
        clients,
        clients.sharing,
        lambda library: field_owners(library, contracts),
        ledger_service(settings).append,
        purposes,
    )
    return desk, store, StaffAccounts(engine)


def departments() -> list[str]:
    """The departments of the project's contracts."""
    from schemas.contracts import load_contracts

    return sorted({c.department for c in load_contracts().values()})


def resolve_department(text: str) -> str:
    """The one contract department whose name contains ``text`` (e.g. ``民政`` or ``Civil``)."""
    from sharing.access import PLATFORM_DEPARTMENT

    known = [*departments(), PLATFORM_DEPARTMENT]
    exact = [d for d in known if d == text.strip()]
    found = exact or [d for d in known if text.strip() and text.strip().lower() in d.lower()]
    if len(found) != 1:
        raise click.ClickException(
            f"{text!r} names {'no' if not found else 'more than one'} department; known: "
            + "; ".join(known)
        )
    return found[0]


def _approver(accounts: Any, store: Any, username: str) -> str:
    staff = accounts.get(username)
    if staff is None or staff.disabled or staff.role != "approver":
        raise click.ClickException(f"{username!r} is not an active approver account")
    department = store.department_of(username)
    if department is None:
        raise click.ClickException(
            f"{username!r} is bound to no department: hub access approver {username} DEPARTMENT"
        )
    return str(department)


@click.group()
def access() -> None:
    """Access requests to the sharing API, decided by the departments owning the fields."""


@access.command("approver")
@click.argument("username")
@click.argument("department")
def approver(username: str, department: str) -> None:
    """Bind the approver account USERNAME to DEPARTMENT (any unique part of its name)."""
    _desk, store, accounts = _open()
    staff = accounts.get(username)
    if staff is None or staff.role != "approver":
        raise click.ClickException(
            f"{username!r} is not an approver account (hub staff add {username} --role approver)"
        )
    name = resolve_department(department)
    store.bind(username, name)
    click.echo(f"{username} decides access requests for {name}")


@access.command("list")
@click.option("--all", "every", is_flag=True, help="closed requests too (default: pending)")
@click.option("--json", "as_json", is_flag=True)
def list_requests(every: bool, as_json: bool) -> None:
    """Access requests with their age and legal deadline (10 working days)."""
    from sharing.access import timing

    _desk, store, _accounts = _open()
    today = dt.datetime.now(dt.UTC).date()
    rows = store.list(None if every else "pending")
    for r in rows:
        r.update(timing(r, today))
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no pending access requests" if not every else "no access requests")
    for r in rows:
        late = "  OVERDUE" if r["overdue"] else ""
        decided = {d["department"]: d["decision"] for d in r["decisions"]}
        click.echo(
            f"{r['request_id']}  {r['status']}  {r['client_id']}  {r['scope']}:"
            f"{','.join(r['fields'])}  purpose={r['purpose']}  age={r['age_days']}d "
            f"deadline={r['deadline']}{late}"
        )
        for dept in r["departments"]:
            click.echo(f"  {dept}: {decided.get(dept, 'pending')}")


@access.command("approve")
@click.argument("request_id")
@click.option("--as", "username", required=True, help="the approver account deciding")
@click.option("--fields", default=None, help="narrow: only these of the department's fields")
@click.option("--note", default="", help="a note for the requester")
def approve(request_id: str, username: str, fields: str | None, note: str) -> None:
    """Approve REQUEST_ID for the approver's department (or narrow it with --fields)."""
    from sharing.access import RequestRefused

    desk, store, accounts = _open()
    department = _approver(accounts, store, username)
    decision = "narrow" if fields else "approve"
    names = fields.split(",") if fields else None
    try:
        row = desk.decide(request_id, department, username, decision, names, note)
    except RequestRefused as exc:
        raise click.ClickException(str(exc)) from None
    _say(row)


@access.command("refuse")
@click.argument("request_id")
@click.option("--as", "username", required=True, help="the approver account deciding")
@click.option("--reason", required=True, help="why (the requester is told)")
def refuse(request_id: str, username: str, reason: str) -> None:
    """Refuse REQUEST_ID for the approver's department (the request is refused)."""
    from sharing.access import RequestRefused

    desk, store, accounts = _open()
    department = _approver(accounts, store, username)
    try:
        row = desk.decide(request_id, department, username, "refuse", None, reason)
    except RequestRefused as exc:
        raise click.ClickException(str(exc)) from None
    _say(row)


def _say(row: dict[str, Any]) -> None:
    if row["status"] == "granted":
        click.echo(
            f"{row['request_id']} granted: grant {row['grant_id']} "
            f"({','.join(row['granted_fields'] or [])})"
        )
    elif row["status"] == "refused":
        click.echo(f"{row['request_id']} refused")
    else:
        waiting = {d["department"] for d in row["decisions"]}
        left = [d for d in row["departments"] if d not in waiting]
        click.echo(f"{row['request_id']} recorded; still waiting for: {'; '.join(left)}")
