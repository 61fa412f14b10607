"""``hub client``: register approval systems, rotate keys, grant scopes per purpose, revoke."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click


def _store() -> Any:
    from api.clients import ClientStore
    from api.purposes import registry
    from hub.settings import get_settings
    from storage.library import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    return ClientStore(engine_for(settings.db_url), purposes=registry(settings.home))


def _errors() -> type[Exception]:
    from api.clients import ClientError

    return ClientError


@click.group()
def client() -> None:
    """Client systems of the sharing API (API keys are stored only as hashes)."""


@client.command("add")
@click.argument("client_id")
@click.option("--name", required=True, help="the system's human-readable name")
@click.option("--rate", type=float, default=None, help="requests/s (default: HUB_API_RATE_LIMIT)")
def add(client_id: str, name: str, rate: float | None) -> None:
    """Register CLIENT_ID; prints its API key once (it cannot be shown again)."""
    try:
        key = _store().add(client_id, name, rate)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)
    click.echo("store this key now: only its hash is kept", err=True)


@client.command("rotate")
@click.argument("client_id")
def rotate(client_id: str) -> None:
    """Issue CLIENT_ID a new API key (printed once); the old key stops working."""
    try:
        key = _store().rotate(client_id)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)
    click.echo("store this key now: only its hash is kept", err=True)


@client.command("grant")
@click.argument("client_id")
@click.option("--scope", required=True, help="population, legal-entity, verify-person, ...")
@click.option(
    "--purpose",
    required=True,
    help="a registered purpose code (`hub client purposes`), or its Chinese or English title; "
    "the client declares the code in X-Purpose",
)
@click.option("--fields", default="*", show_default=True, help="comma-separated, or *")
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="expiry date (the grant ends at 00:00 UTC of that day)",
)
def grant(client_id: str, scope: str, purpose: str, fields: str, until: dt.datetime) -> None:
    """Grant CLIENT_ID a scope for one purpose until a date; prints the grant id."""
    try:
        gid = _store().grant(
            client_id, scope, purpose, until.replace(tzinfo=dt.UTC), fields.split(",")
        )
    except _errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(gid)


@client.command("revoke")
@click.argument("client_id")
@click.option("--grant", "grant_id", type=int, default=None, help="revoke only this grant")
def revoke(client_id: str, grant_id: int | None) -> None:
    """Revoke a grant, or (without --grant) the client and its key."""
    try:
        _store().revoke(client_id, grant_id)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("revoked")


@client.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_clients(as_json: bool) -> None:
    """Clients and their grants (no key material)."""
    rows = _store().list()
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    store_purposes = _store().purposes
    for c in rows:
        state = "revoked" if c["revoked_at"] else "active"
        click.echo(f"{c['client_id']}  {state}  rate={c['rate_limit'] or 'default'}  {c['name']}")
        for g in c["grants"]:
            live = "revoked" if g["revoked_at"] else f"until {g['expires_at']:%Y-%m-%d}"
            click.echo(
                f"  grant {g['grant_id']}: {g['scope']} fields={g['fields']} "
                f"purpose={store_purposes.label(g['purpose'])} {live}"
            )


@client.command("purposes")
def purposes() -> None:
    """The registered purposes: code, Chinese and English title (X-Purpose takes the code)."""
    registry = _store().purposes
    for code in registry.codes():
        p = registry.get(code)
        click.echo(f"{code}  {p.zh}  {p.en}")
