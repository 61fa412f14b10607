"""``hub init`` and ``hub settings``: create and show the embedded state."""

from __future__ import annotations

import json

import click

from hub.settings import get_settings


@click.command()
def init() -> None:
    """Create the folders of the embedded default under HUB_HOME (safe to re-run)."""
    settings = get_settings()
    settings.ensure_dirs()
    click.echo(f"hub home ready: {settings.home}")


@click.command("settings")
def show_settings() -> None:
    """Print the effective settings as JSON (secrets masked)."""
    settings = get_settings()
    data = json.loads(settings.model_dump_json())
    for key in ("key_passphrase", "minio_secret_key"):
        if data.get(key):
            data[key] = "***"
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
