"""``hub holder``: the holder's side — register the key a holder app signs its assertions with."""

from __future__ import annotations

from pathlib import Path

import click

from hub.commands.common import fail


@click.group()
def holder() -> None:
    """The holder's side (持证人): the holder apps that act for citizens."""


@holder.command("app-key")
@click.argument("client_id")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="the app's public key (PEM): ECDSA P-256 for ES256, or Ed25519 for EdDSA",
)
def app_key(client_id: str, public_key: Path) -> None:
    """Register (or replace) the key CLIENT_ID signs its holder assertions with. The client
    also needs a grant: `hub client grant CLIENT_ID --scope holder-app --purpose …`."""
    from holder.assertions import HolderApps
    from hub.settings import get_settings
    from storage.library import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    try:
        HolderApps(engine_for(settings.db_url)).register(client_id, public_key.read_bytes())
    except ValueError as exc:
        fail(exc)
    click.echo(f"holder-app key registered for {client_id}")
