"""``hub init`` and ``hub settings``: create and show the embedded state."""

from __future__ import annotations

import json

import click

from hub.settings import Settings, get_settings


@click.command()
@click.option(
    "--move-passphrase",
    "move_to",
    metavar="file:PATH|pkcs11|env",
    default=None,
    help="move the key passphrase off keys/master.secret (the demo default, copied with "
    "HUB_HOME) to a file outside HUB_HOME, the PKCS#11 token, or the service's environment",
)
def init(move_to: str | None) -> None:
    """Create the folders of the embedded default under HUB_HOME (safe to re-run)."""
    settings = get_settings()
    settings.ensure_dirs()
    if move_to:
        _move_passphrase(settings, move_to)
        return
    click.echo(f"hub home ready: {settings.home}")
    _init_licences(settings)
    if not (settings.keys_path / "master.secret").exists():
        return
    click.echo(
        "note: the key passphrase is keys/master.secret, beside the keys (demo default): a copy "
        "of HUB_HOME carries both; see `hub init --move-passphrase`"
    )


def _move_passphrase(settings: Settings, target: str) -> None:
    from storage.keys import KeyStoreError, move_passphrase

    try:
        advice = move_passphrase(settings, target)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("keys/master.secret removed; the key passphrase now comes from elsewhere.")
    click.echo("set this in the environment of every hub process (hub serve, Airflow, CLI):")
    click.echo(f"  {advice}")


def _init_licences(settings: Settings) -> None:
    """Platform CA, the log key, and one active seal per registered authority (idempotent)."""
    import datetime as dt

    from hub.commands.licence import open_service
    from licence import authorities
    from licence.seals import algorithm_for

    svc = open_service(settings)
    svc.ensure_ca()  # also opens the ledger, which creates the log key on first use
    click.echo("platform CA and log key ready")
    now = dt.datetime.now(dt.UTC)
    for auth in authorities.registry().values():
        if svc.store.active_seal(auth.uscc, now) is None:
            # the national profile seals with SM2 (GB/T 32918), the standard one with P-256
            row = svc.create_seal(auth.uscc, algorithm=algorithm_for(settings.crypto_profile))
            click.echo(f"seal {row['seal_id']} created for {auth.name}")


@click.command("settings")
def show_settings() -> None:
    """Print the effective settings as JSON (secrets masked)."""
    settings = get_settings()
    data = json.loads(settings.model_dump_json())
    for key in data:
        # passphrases, PINs, passwords, secret keys and URLs that carry a password
        secret = any(word in key for word in ("passphrase", "pin", "password", "secret"))
        if secret and data[key]:
            data[key] = "***"
        elif key.endswith("_url") and isinstance(data[key], str) and "@" in data[key]:
            scheme, _, rest = data[key].partition("://")
            data[key] = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
