"""``hub verify`` (licences, PDFs, QR payloads, seals; online or offline) and ``hub trust``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from hub.settings import get_settings

EXIT_HELP = """
Exit status: 0 TOTAL_PASSED, 1 TOTAL_FAILED, 2 INDETERMINATE (cannot be decided now: missing
trust material, stale bundle, unreachable service). Usage errors also exit 2.
"""


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _offline_context(
    trust: Path, max_age_days: float, licence_file: Path | None, log_keys: tuple[str, ...]
) -> Any:
    import dataclasses

    from licence.trust import TrustBundleError, load_bundle, offline_context

    try:
        bundle = load_bundle(trust.read_bytes())
        ctx = offline_context(bundle, max_age=dt.timedelta(days=max_age_days), pinned_keys=log_keys)
    except (OSError, TrustBundleError) as exc:
        _fail(f"trust bundle {trust}: {exc}")
    if not log_keys:
        click.echo(
            "note: trust bundle checked against its own log key; pin the platform's key with "
            "--log-key to detect a substituted bundle",
            err=True,
        )
    if licence_file is not None:
        document_of, receipt_of = _companion(licence_file)
        ctx = dataclasses.replace(ctx, document_of=document_of, receipt_of=receipt_of)
    return bundle, ctx


def _companion(path: Path) -> tuple[Any, Any]:
    """document_of and receipt_of over one licence JSON file (with its receipt, as
    `hub trust receipt` writes it) given next to a PDF."""
    from ledger.receipt import Receipt, ReceiptError

    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        _fail(f"--licence {path}: {exc}")
    doc, receipt = obj, None
    for key in ("licence", "document"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            doc = obj[key]
            try:
                receipt = Receipt.from_dict(obj["receipt"]) if obj.get("receipt") else None
            except ReceiptError:
                receipt = None  # the verifier then reports NO_RECEIPT for it
    lid = doc.get("header", {}).get("licence_id") if isinstance(doc, dict) else None

    def document_of(wanted: str) -> dict[str, Any] | None:
        return doc if wanted == lid else None

    def receipt_of(wanted: str) -> Receipt | None:
        return receipt if wanted == lid else None

    return document_of, receipt_of


@click.command(epilog=EXIT_HELP)
@click.argument("file", required=False, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--qr", "qr", default=None, help="verify a scanned QR payload (…/verify?id=…&d=…)")
@click.option("--seal", "seal_id", default=None, help="verify a seal (by seal id) instead")
@click.option("--offline", is_flag=True, help="no database, no network: needs --trust")
@click.option(
    "--trust",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="trust bundle from `hub trust export`",
)
@click.option(
    "--licence",
    "licence_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="offline PDF: the licence JSON it renders",
)
@click.option("--max-age-days", default=7.0, show_default=True, help="bundle freshness limit")
@click.option(
    "--log-key",
    "log_keys",
    multiple=True,
    help="pinned log verifier key (`hub ledger key` prints it); the bundle must be signed by it",
)
@click.option("--policy", default=None, help="comma-separated checks to require (default: all)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def verify(
    file: Path | None,
    qr: str | None,
    seal_id: str | None,
    offline: bool,
    trust: Path | None,
    licence_file: Path | None,
    max_age_days: float,
    log_keys: tuple[str, ...],
    policy: str | None,
    as_json: bool,
) -> None:
    """Verify a licence FILE (sealed or disclosed JSON, PDF), a QR payload or a seal.

    Online (default) the running stores answer status, seals and receipts; with
    --offline --trust BUNDLE only the file (with its receipt: `hub trust receipt`) and the
    bundle are used, and the bundle's age is reported as the `freshness` check.
    """
    from licence import verify as v

    if offline and trust is None:
        _fail("--offline needs --trust BUNDLE (make one with `hub trust export`)")
    if sum(x is not None for x in (file, qr, seal_id)) != 1:
        _fail("give exactly one of FILE, --qr PAYLOAD or --seal SEAL_ID")
    chosen = None
    if policy:
        try:
            chosen = v.policy_of([p.strip() for p in policy.split(",") if p.strip()])
        except ValueError as exc:
            _fail(str(exc))
    bundle: Any = None
    if offline:
        assert trust is not None
        bundle, ctx = _offline_context(trust, max_age_days, licence_file, log_keys)
        if chosen is None:
            chosen = v.OFFLINE_POLICY
    else:
        from hub.commands.licence import open_service
        from licence.ca import CertificateAuthorityError
        from licence.trust import online_context

        svc = open_service(get_settings())
        try:
            ctx = online_context(svc)
        except CertificateAuthorityError as exc:
            _fail(str(exc))
    if seal_id is not None:
        from licence import trust as t

        if offline:
            report = t.verify_seal_offline(bundle, seal_id, ctx)
        else:
            report = t.verify_seal_online(svc, seal_id, ctx)
    elif qr is not None:
        report = v.verify_qr(qr, ctx, chosen)
    else:
        assert file is not None
        try:
            data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        except OSError as exc:
            _fail(f"cannot read {file}: {exc}")
        report = v.verify_input(data, ctx, chosen)
    click.echo(report.to_json() if as_json else report.to_text())
    sys.exit(report.exit_code)


@click.group()
def trust() -> None:
    """Trust bundles for offline verification."""


@trust.command("export")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
def export_cmd(bundle: Path) -> None:
    """Write BUNDLE: CA certificates, log keys, a fresh checkpoint, seals, status snapshot."""
    from hub.commands.licence import open_service
    from licence.ca import CertificateAuthorityError
    from licence.trust import TrustBundleError, export_bundle

    svc = open_service(get_settings())
    try:
        data = export_bundle(svc)
    except (CertificateAuthorityError, TrustBundleError) as exc:
        _fail(str(exc))
    bundle.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(
        f"written: {bundle} (checkpoint size {data['status']['size']}, "
        f"{len(data['seals'])} seals, {len(data['status']['licences'])} licences not valid)"
    )


@trust.command("receipt")
@click.argument("licence_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
def receipt_cmd(licence_id: str, output: Path) -> None:
    """Write the licence with its ledger receipt: the file offline verification takes."""
    from hub.commands.licence import open_service
    from ledger.receipt import ReceiptError
    from licence.service import LicenceError
    from licence.trust import licence_with_receipt

    svc = open_service(get_settings())
    try:
        data = licence_with_receipt(svc, licence_id)
    except (LicenceError, ReceiptError) as exc:
        _fail(str(exc))
    output.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(f"written: {output}")
