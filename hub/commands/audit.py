"""``hub audit``: who looked at a subject's data, digests into the ledger, tamper check."""

from __future__ import annotations

import json
from typing import Any

import click


def _open() -> tuple[Any, Any]:
    from api.audit import AuditLog, subject_key
    from hub.settings import get_settings
    from hub.wiring import ledger_service
    from storage.keys import EncryptedFileKeyStore
    from storage.library import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    ledger = ledger_service(settings)
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    return AuditLog(engine_for(settings.db_url), subject_key(keys), ledger.append), ledger


@click.group()
def audit() -> None:
    """The access audit of the sharing API (tamper-evident through the ledger)."""


@audit.command("query")
@click.option(
    "--subject",
    required=True,
    help="resident ID number (18 or 15 digits, full-width forms too) or USCC",
)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def query(subject: str, limit: int, as_json: bool) -> None:
    """Who looked at SUBJECT's data: client, purpose, fields, outcome, time."""
    from api.purposes import registry
    from hub.settings import get_settings

    log, _ = _open()
    rows = log.query(subject, limit)
    purposes = registry(get_settings().home)
    for r in rows:
        found = purposes.get(r["purpose"])
        r["purpose_title"] = {"zh": found.zh, "en": found.en} if found else None
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no access recorded for this subject")
    for r in rows:
        click.echo(
            f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['client_id']}  "
            f"purpose={purposes.label(r['purpose']) if r['purpose'] != '-' else '-'}  "
            f"{r['method']} {r['route']}  {r['outcome']}  fields={r['fields'] or '-'}"
        )


@audit.command("digest")
@click.option("--checkpoint/--no-checkpoint", default=True, help="also sequence the ledger")
def digest(checkpoint: bool) -> None:
    """Append a digest of the audit rows not yet covered to the ledger (on demand)."""
    log, ledger = _open()
    entry = log.digest()
    if entry is None:
        click.echo("nothing to digest: every audit row is covered")
    else:
        click.echo(json.dumps(entry))
    if checkpoint:
        signed = ledger.sequence()
        if signed is not None:
            click.echo(f"checkpoint size {signed.checkpoint.size}")


@audit.command("verify")
def verify() -> None:
    """Recompute every audit digest and compare with the ledger; exit 1 on any difference."""
    from api.audit_verify import verify as run_verify

    log, ledger = _open()
    report = run_verify(log.engine, ledger)
    click.echo(
        f"{report.digests} digests, {report.rows_covered} rows covered, "
        f"{report.sequenced} digests proven in a signed checkpoint, "
        f"{report.rows_pending} rows not yet digested"
    )
    for problem in report.problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    if not report.ok:
        raise SystemExit(1)
    click.echo("audit log intact")
