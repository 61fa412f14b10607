"""``hub authority``: issuing authorities and the API clients that issue for them."""

from __future__ import annotations

from typing import Any

import click

from hub.commands.common import fail, licence_errors


def _store() -> Any:
    from hub.settings import get_settings
    from licence.store import LicenceStore
    from licence.tables import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    return LicenceStore(engine_for(settings.db_url))


@click.group()
def authority() -> None:
    """Issuing authorities (发证机关) and their issuing systems."""


@authority.command("list")
def list_cmd() -> None:
    """List the issuing authorities, the licence types each may issue and the API clients
    bound to each."""
    from licence import authorities
    from schemas import licence_types

    bound: dict[str, list[str]] = {}
    for client_id, uscc in _store().issuing_clients():
        bound.setdefault(uscc, []).append(client_id)
    for auth in authorities.registry().values():
        types = ", ".join(licence_types.get(code).name for code in auth.may_issue)
        click.echo(f"{auth.uscc}  {auth.name} ({auth.division}, {auth.kind}): {types}")
        if bound.get(auth.uscc):
            click.echo(f"    issuing clients: {', '.join(bound[auth.uscc])}")


@authority.command("bind")
@click.argument("client_id")
@click.argument("uscc")
def bind_cmd(client_id: str, uscc: str) -> None:
    """Bind the API client CLIENT_ID (`hub client add`) to the authority USCC: it then issues
    as that authority, for the types granted to it (`hub client grant CLIENT_ID --scope issue
    --fields TYPE,... --purpose licence-issuance`)."""
    from api.clients import ClientStore
    from licence import authorities

    try:
        auth = authorities.get(uscc.strip().upper())
    except licence_errors() as exc:
        fail(exc)
    store = _store()
    known = {c["client_id"] for c in ClientStore(store.engine).list() if not c["revoked_at"]}
    if client_id not in known:
        fail(f"no active client {client_id!r} (see `hub client list`)")
    store.bind_client(client_id, auth.uscc)
    click.echo(f"{client_id} issues as {auth.name} ({auth.uscc})")


@authority.command("add")
@click.argument("uscc")
@click.option("--name", required=True, help="the authority's name, e.g. 淮南市民政局")
@click.option("--division", required=True, help="GB/T 2260 division code, e.g. 340400")
@click.option("--kind", required=True, help="its kind, matched against a type's issuer_kinds")
@click.option("--may-issue", default="", help="licence types, comma-separated")
def add_cmd(uscc: str, name: str, division: str, kind: str, may_issue: str) -> None:
    """Register an issuing authority (stored in the hub, not in the repository)."""
    from licence.authorities import Authority, AuthorityError

    types = tuple(t.strip() for t in may_issue.split(",") if t.strip())
    if not (division.isdigit() and len(division) == 6):
        fail(f"division {division!r}: six digits (GB/T 2260)")
    try:
        _store().add_authority(Authority(uscc.strip().upper(), name, division, kind, types))
    except AuthorityError as exc:
        fail(exc)
    click.echo(f"{uscc.strip().upper()} {name}: registered")


@authority.command("grant-type")
@click.argument("uscc")
@click.argument("type_name", metavar="TYPE")
def grant_type_cmd(uscc: str, type_name: str) -> None:
    """Let the authority USCC issue licences of TYPE."""
    from licence.authorities import AuthorityError
    from schemas.licence_types import LicenceTypeError

    try:
        auth = _store().grant_type(uscc.strip().upper(), type_name)
    except (AuthorityError, LicenceTypeError) as exc:
        fail(exc)
    click.echo(f"{auth.uscc} {auth.name} may issue: {', '.join(auth.may_issue)}")
