"""``hub seal``: create, list, suspend and revoke authorities' electronic seals (电子印章)."""

from __future__ import annotations

import click

from hub.commands.common import fail, licence_errors
from hub.commands.licence import open_service
from hub.settings import get_settings


@click.group()
def seal() -> None:
    """Electronic seals of issuing authorities."""


@seal.command("create")
@click.option("--authority", required=True, help="USCC of a registered issuing authority")
@click.option("--name", default=None, help="seal name (default: <authority>电子证照专用章)")
@click.option("--years", default=5, show_default=True, type=int)
@click.option(
    "--profile",
    type=click.Choice(["standard", "national"]),
    default=None,
    help="key algorithm: standard = ECDSA P-256, national = SM2 with SM3 "
    "(default: HUB_CRYPTO_PROFILE, i.e. the crypto_profile setting)",
)
def create_cmd(authority: str, name: str | None, years: int, profile: str | None) -> None:
    """Create an active seal: key pair, certificate and picture; logged."""
    from licence.seals import algorithm_for

    settings = get_settings()
    svc = open_service(settings)
    try:
        algorithm = algorithm_for(profile or settings.crypto_profile)
        row = svc.create_seal(authority, name, years=years, algorithm=algorithm)
    except licence_errors() as exc:
        fail(exc)
    click.echo(
        f"{row['seal_id']}  {row['name']}  {row['algorithm']}  "
        f"valid until {row['valid_to']:%Y-%m-%d}"
    )


@seal.command("list")
@click.option("--authority", default=None)
def list_cmd(authority: str | None) -> None:
    """List seals with status and validity."""
    svc = open_service(get_settings())
    for row in svc.store.seals(authority):
        click.echo(
            f"{row['seal_id']}  {row['status']:<9}  {row['valid_from']:%Y-%m-%d}.."
            f"{row['valid_to']:%Y-%m-%d}  {row['algorithm']}  {row['name']}"
        )


def _status(seal_id: str, status: str, reason: str) -> None:
    svc = open_service(get_settings())
    try:
        svc.set_seal_status(seal_id, status, reason)
    except licence_errors() as exc:
        fail(exc)
    click.echo(f"{seal_id}: {status}")


@seal.command("suspend")
@click.argument("seal_id")
@click.option("--reason", required=True)
def suspend_cmd(seal_id: str, reason: str) -> None:
    """Suspend a seal: no licence can be sealed with it until reactivated."""
    _status(seal_id, "suspended", reason)


@seal.command("reactivate")
@click.argument("seal_id")
@click.option("--reason", default="")
def reactivate_cmd(seal_id: str, reason: str) -> None:
    """Reactivate a suspended seal."""
    _status(seal_id, "active", reason)


@seal.command("revoke")
@click.argument("seal_id")
@click.option("--reason", required=True)
def revoke_cmd(seal_id: str, reason: str) -> None:
    """Revoke a seal (final)."""
    _status(seal_id, "revoked", reason)
