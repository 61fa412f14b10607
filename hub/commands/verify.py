"""``hub verify`` (licences, PDFs, QR payloads, seals; online or offline) and ``hub trust``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from hub.commands.common import fail
from hub.settings import get_settings

EXIT_HELP = """
Exit status: 0 TOTAL_PASSED, 1 TOTAL_FAILED, 2 INDETERMINATE (cannot be decided now: missing
trust material, stale bundle, unreachable service). Usage errors also exit 2.
"""


class _Refused(Exception):
    """The offline trust material is refused: carries the report to print."""

    def __init__(self, report: Any) -> None:
        super().__init__(report.sub_indication)
        self.report = report


def _offline_context(
    trust: Path, max_age_hours: float, licence_file: Path | None, log_keys: tuple[str, ...]
) -> Any:
    """(bundle, context) from the bundle and the anchors this verifier holds (installed with
    `hub trust install`, plus --log-key); _Refused with the refusal as a report otherwise."""
    from licence.trust import load_bundle, offline_context
    from licence.trust_anchors import TrustBundleError, load_anchors

    try:
        anchors = load_anchors(get_settings().trust_path)
        bundle = load_bundle(trust.read_bytes())
        ctx = offline_context(
            bundle, anchors, max_age=dt.timedelta(hours=max_age_hours), pinned_keys=log_keys
        )
    except OSError as exc:
        fail(f"trust bundle {trust}: {exc}")
    except TrustBundleError as exc:
        raise _Refused(exc.report()) from exc
    if licence_file is not None:
        document_of, receipt_of = _companion(licence_file)
        ctx = dataclasses.replace(ctx, document_of=document_of, receipt_of=receipt_of)
    return bundle, ctx


def _companion(path: Path) -> tuple[Any, Any]:
    """document_of and receipt_of over one licence JSON file (with its receipt, as
    `hub trust receipt` writes it) given next to a PDF: read by the verifier's own reader, so
    it accepts and refuses exactly what `hub verify FILE` does."""
    from ledger.receipt import Receipt, ReceiptError
    from ledger.strict_json import StrictJSONError
    from licence.verify import MalformedLicenceError, read_licence_json

    try:
        doc, raw_receipt = read_licence_json(path.read_bytes())
    except OSError as exc:
        fail(f"--licence {path}: {exc}")
    except (StrictJSONError, MalformedLicenceError) as exc:
        fail(f"--licence {path}: not a licence file: {exc}")
    try:
        receipt = None if raw_receipt is None else Receipt.from_dict(raw_receipt)
    except ReceiptError:
        receipt = None  # the verifier then reports NO_RECEIPT for it
    header = doc.get("header")
    lid = header.get("licence_id") if isinstance(header, dict) else None

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
@click.option(
    "--document",
    "document_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="the document a detached GB/T 38540 signature FILE (DER) was made over",
)
@click.option(
    "--max-age-hours",
    type=click.FloatRange(min=0),
    default=None,
    help="offline: how old the trust bundle may be before the verdict is INDETERMINATE "
    "(default HUB_VERIFY_MAX_AGE_HOURS, 12)",
)
@click.option(
    "--log-key",
    "log_keys",
    multiple=True,
    help="also trust this log verifier key (`hub ledger key` prints it) besides the anchors "
    "installed with `hub trust install`",
)
@click.option(
    "--witnesses",
    "quorum",
    type=click.IntRange(min=0),
    default=None,
    help="how many of the log's known witnesses must have cosigned the receipt's checkpoint "
    "(default HUB_WITNESS_QUORUM, 0: the report only names them)",
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
    document_file: Path | None,
    max_age_hours: float | None,
    log_keys: tuple[str, ...],
    quorum: int | None,
    policy: str | None,
    as_json: bool,
) -> None:
    """Verify a licence FILE (sealed or disclosed JSON, PDF, OFD), a QR payload or a seal; a
    GB/T 38540 signature FILE (DER) with the --document it was made over.

    Online (default) the running stores answer status, seals and receipts; with
    --offline --trust BUNDLE only the file (with its receipt: `hub trust receipt`), the bundle
    and the trust anchors installed here (`hub trust install`, or --log-key) are used: a bundle
    no trusted key signed is refused (check trust_bundle). The verdict holds "as of" the
    bundle's checkpoint; its age is the `freshness` check.
    """
    from licence import verify as v

    if offline and trust is None:
        fail("--offline needs --trust BUNDLE (make one with `hub trust export`)")
    if sum(x is not None for x in (file, qr, seal_id)) != 1:
        fail("give exactly one of FILE, --qr PAYLOAD or --seal SEAL_ID")
    chosen = None
    if policy:
        try:
            chosen = v.policy_of([p.strip() for p in policy.split(",") if p.strip()])
        except ValueError as exc:
            fail(str(exc))
    bundle: Any = None
    if quorum is None:
        quorum = get_settings().witness_quorum
    if offline:
        assert trust is not None
        hours = get_settings().verify_max_age_hours if max_age_hours is None else max_age_hours
        try:
            bundle, ctx = _offline_context(trust, hours, licence_file, log_keys)
        except _Refused as refused:
            click.echo(refused.report.to_json() if as_json else refused.report.to_text())
            sys.exit(refused.report.exit_code)
        ctx = dataclasses.replace(ctx, witness_quorum=quorum)
        if chosen is None:
            chosen = v.OFFLINE_POLICY
    else:
        from hub.commands.licence import open_service
        from licence.ca import CertificateAuthorityError
        from licence.trust import online_context

        svc = open_service(get_settings())
        try:
            # staff with the hub's state may see what was registered for an altered field
            ctx = dataclasses.replace(
                online_context(svc, witness_quorum=quorum), show_recorded=True
            )
        except CertificateAuthorityError as exc:
            fail(str(exc))
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
            fail(f"cannot read {file}: {exc}")
        if document_file is not None:
            report = v.verify_ses(data, document_file.read_bytes(), ctx)
        elif offline or chosen is not None:
            report = v.verify_input(data, ctx, chosen)
            if offline:  # a federation peer's bundle: the report names the peer
                from licence.peers import named, peer_of

                peer = peer_of(get_settings().trust_path, str(bundle.get("origin", "")))
                if peer is not None:
                    report = named(report, peer)
        else:  # a federation peer's licence is checked with the peer's latest bundle
            from licence.trust import verify_online

            settings = get_settings()
            report = verify_online(
                svc,
                data,
                peers_dir=settings.trust_path,
                max_age=dt.timedelta(hours=settings.verify_max_age_hours),
                ctx=ctx,
            )
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
    from licence.trust import export_bundle
    from licence.trust_anchors import TrustBundleError

    svc = open_service(get_settings())
    try:
        data = export_bundle(svc)
    except (CertificateAuthorityError, TrustBundleError) as exc:
        fail(str(exc))
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
    from licence.errors import LicenceError
    from licence.trust import licence_with_receipt

    svc = open_service(get_settings())
    try:
        data = licence_with_receipt(svc, licence_id)
    except (LicenceError, ReceiptError) as exc:
        fail(str(exc))
    output.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(f"written: {output}")


@trust.command("install")
@click.option(
    "--from",
    "bundle_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="another hub's trust bundle (a federation peer, or this hub on a device without "
    "its state); needs --log-key",
)
@click.option(
    "--log-key",
    "log_keys",
    multiple=True,
    help="that hub's log verifier key, obtained from it out of band (`hub ledger key`)",
)
def install_cmd(bundle_file: Path | None, log_keys: tuple[str, ...]) -> None:
    """Install a trust anchor: a hub's log key and platform CA certificates, which offline
    verification then requires every trust bundle to be signed by.

    Without --from: this hub's own anchor, read from its stores. With --from BUNDLE
    --log-key KEY: the hub that signed BUNDLE with KEY (its CA certificates come from the
    bundle that key signed). Anchors are kept in HUB_TRUST_DIR (default HUB_HOME/trust), one
    per hub (installing again replaces it).
    """
    from licence.ca import CertificateAuthorityError
    from licence.trust import anchor_from_bundle, load_bundle
    from licence.trust_anchors import TrustBundleError, load_anchors, own_anchor, save_anchors

    settings = get_settings()
    try:
        anchors = load_anchors(settings.trust_path)
        if bundle_file is None:
            if log_keys:
                fail("--log-key goes with --from BUNDLE (the hub's own key is read from it)")
            from hub.commands.licence import open_service

            anchor = own_anchor(open_service(settings))
        else:
            anchor = anchor_from_bundle(load_bundle(bundle_file.read_bytes()), log_keys)
    except (OSError, CertificateAuthorityError, TrustBundleError) as exc:
        fail(str(exc))
    path = save_anchors(settings.trust_path, anchors.with_anchor(anchor))
    click.echo(
        f"installed: {anchor.origin} ({len(anchor.log_keys)} log key(s), "
        f"{len(anchor.ca_certificates)} CA certificate(s)) in {path}"
    )


@trust.command("add-peer")
@click.argument("source")
@click.option("--name", required=True, help="what reports call this hub (e.g. 江苏省政务服务平台)")
@click.option(
    "--log-key",
    "log_keys",
    multiple=True,
    required=True,
    help="the peer's log verifier key, obtained from it out of band (`hub ledger key`)",
)
def add_peer_cmd(source: str, name: str, log_keys: tuple[str, ...]) -> None:
    """Trust a federation peer: SOURCE is its bundle URL (https://peer/v1/trust/bundle) or a
    bundle file, which must be signed by --log-key. Its licences then verify here with its
    bundle (`hub verify`, the API, the /verify page), the report naming it."""
    from licence.peers import PeerError, add_peer

    try:
        peer = add_peer(get_settings().trust_path, source, name, log_keys)
    except PeerError as exc:
        fail(str(exc))
    click.echo(f"peer added: {peer.name} ({peer.origin}), checkpoint {peer.size}")


@trust.command("peers")
def peers_cmd() -> None:
    """The federation peers trusted here, with the checkpoint and time of their bundle."""
    from licence.peers import peers

    found = peers(get_settings().trust_path)
    if not found:
        click.echo("no peers (add one with `hub trust add-peer URL --name N --log-key K`)")
    for p in found:
        where = p.url or "(from a file)"
        click.echo(f"{p.name}  {p.origin}  checkpoint {p.size}  fetched {p.fetched_at}  {where}")


@trust.command("refresh")
def refresh_cmd() -> None:
    """Fetch every peer's newer bundle; one refused for another history is kept as evidence."""
    from licence.peers import refresh

    outcomes = refresh(get_settings().trust_path)
    for name, what in outcomes:
        click.echo(f"{name}: {what}")
    if any(w.startswith(("refused", "not refreshed")) for _n, w in outcomes):
        sys.exit(1)
