"""The ``hub`` command line: one group whose subcommands are imported only when used.

``hub --help`` must answer in well under a second, so this module imports nothing heavy: each
command group lives in its own module under ``hub.commands`` and is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help shown by ``hub --help`` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("hub.commands.init", "init", "Create the embedded state under HUB_HOME (idempotent)."),
    "check": (
        "hub.commands.check",
        "check",
        "Validate resident IDs, USCCs and licence identifiers.",
    ),
    "ledger": ("hub.commands.ledger", "ledger", "Merkle log: append, checkpoint, prove, verify."),
    "licence": (
        "hub.commands.licence",
        "licence",
        "Electronic licences: issue, show, lifecycle, PDF.",
    ),
    "seal": ("hub.commands.seal", "seal", "Electronic seals: create, list, suspend, revoke."),
    "ingest": (
        "hub.commands.ingest",
        "ingest",
        "Put a department file through the ingest pipeline.",
    ),
    "runs": ("hub.commands.ingest", "runs", "List ingest runs and their counts; retract one."),
    "pull": ("hub.commands.ingest", "pull", "Pull a dataset from its contract's source once."),
    "quality": ("hub.commands.quality", "quality", "Quality scorecards and GX Data Docs."),
    "library": ("hub.commands.library", "library", "Golden records: person, entity, check."),
    "quarantine": (
        "hub.commands.quarantine",
        "quarantine",
        "Quarantined rows: list, export, resubmit.",
    ),
    "synth": ("hub.commands.synth", "synth", "Write synthetic department files for a city."),
    "settings": ("hub.commands.init", "show_settings", "Print the effective settings."),
    "cloudsign": (
        "hub.commands.cloudsign",
        "cloudsign",
        "Cloud signature: enrol, sign a PDF (PIN + OTP), verify.",
    ),
    "verify": (
        "hub.commands.verify",
        "verify",
        "Verify a licence, PDF, QR payload or seal (online or offline).",
    ),
    "trust": ("hub.commands.verify", "trust", "Trust bundles for offline verification."),
    "staff": (
        "hub.commands.staff",
        "staff",
        "Staff accounts for the web pages: add, list, passwd.",
    ),
    "serve": ("hub.commands.serve", "serve", "Serve the sharing API (uvicorn, loopback)."),
    "client": ("hub.commands.client", "client", "API clients: add, rotate, grant, revoke, list."),
    "access": (
        "hub.commands.access",
        "access",
        "Access requests: list, approve (or narrow), refuse; bind approvers.",
    ),
    "authority": (
        "hub.commands.authority",
        "authority",
        "Issuing authorities and the API clients bound to them.",
    ),
    "audit": ("hub.commands.audit", "audit", "API access audit: query, digest, verify."),
    "claims": (
        "hub.commands.claims",
        "claims",
        "Claims (核验): list the claim types, check one for a subject.",
    ),
    "holder": ("hub.commands.holder", "holder", "Holder's side: register a holder app's key."),
    "forms": (
        "hub.commands.forms",
        "forms",
        "Forms (零填报): list, show, prefill one for an applicant.",
    ),
    "policies": (
        "hub.commands.policies",
        "policies",
        "Eligibility policies (免申即享): list, run, applications.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attr, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}.{attr} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # a key passphrase source that cannot be read (HUB_KEY_PASSPHRASE_FILE, the token)
            # surfaces where settings are first read: a clear error, not a traceback
            from storage.keys import KeyStoreError

            if isinstance(exc, KeyStoreError):
                raise click.ClickException(str(exc)) from None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="egov-hub")
def main(**_: Any) -> None:
    """Provincial data sharing hub and e-licence ledger.

    State lives under HUB_HOME (default: var/ in the repository); every setting is an
    environment variable HUB_<NAME> (see `hub settings`).
    """
