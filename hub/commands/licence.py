"""``hub licence``: issue, show, lifecycle, PDF and selective disclosure of electronic licences."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from hub.commands.common import fail, licence_errors
from hub.settings import Settings, get_settings


def open_service(settings: Settings) -> Any:
    """The licence service (built by :func:`hub.wiring.licence_service`)."""
    from hub.wiring import licence_service

    return licence_service(settings)


def _emit(obj: Any, output: Path | None) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"written: {output}")
    else:
        click.echo(text)


@click.group()
def licence() -> None:
    """Electronic licences (电子证照)."""


@licence.command("issue")
@click.argument("type_name", metavar="TYPE")
@click.option("--authority", required=True, help="USCC of the issuing authority")
@click.option("--holder", required=True, help="holder's USCC (entity) or resident ID (person)")
@click.option("--holder-name", required=True, help="holder's name as in the library")
@click.option("--field", "fields", multiple=True, help="k=v, repeatable")
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), default=None)
def issue_cmd(
    type_name: str,
    authority: str,
    holder: str,
    holder_name: str,
    fields: tuple[str, ...],
    valid_until: dt.datetime | None,
) -> None:
    """Issue a sealed licence of TYPE (file stem, type code or Chinese name)."""
    from licence.issuance import Holder

    values = _field_values(fields)
    svc = open_service(get_settings())
    try:
        doc = svc.issue(
            type_name,
            authority,
            Holder(holder, holder_name),
            values,
            valid_until.date() if valid_until else None,
        )
    except licence_errors() as exc:
        fail(exc)
    click.echo(doc["header"]["licence_id"])


@licence.command("show")
@click.argument("licence_id")
def show_cmd(licence_id: str) -> None:
    """Print the index row, the sealed document and its receipt (once attached by
    `hub ledger checkpoint` or the anchor DAG: showing only reads)."""
    svc = open_service(get_settings())
    try:
        row = svc.row(licence_id)
        out = {
            "status": row["status"],
            "reason_code": row["reason_code"],
            "reason": row["reason_text"],
            "superseded_by": row["superseded_by"],
            "document": svc.document(licence_id),
            "receipt": svc.receipt(licence_id),
        }
    except licence_errors() as exc:
        fail(exc)
    _emit(out, None)


def _field_values(fields: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in fields:
        if "=" not in item:
            fail(ValueError(f"--field {item!r}: expected k=v"))
        k, v = item.split("=", 1)
        values[k.strip()] = v
    return values


@licence.command("change")
@click.argument("licence_id")
@click.option("--field", "fields", multiple=True, required=True, help="k=v, repeatable")
@click.option("--reason", required=True, help="why the licence changes (e.g. 住所变更)")
def change_cmd(licence_id: str, fields: tuple[str, ...], reason: str) -> None:
    """Issue the next version with changed fields; the old version becomes superseded."""
    values = _field_values(fields)
    svc = open_service(get_settings())
    try:
        doc = svc.change(licence_id, values, reason)
    except licence_errors() as exc:
        fail(exc)
    click.echo(doc["header"]["licence_id"])


def _lifecycle(action: str, licence_id: str, reason: str, code: str | None) -> None:
    svc = open_service(get_settings())
    try:
        if action == "revoke":
            svc.revoke(licence_id, code or "OTHER", reason)
        elif action == "suspend":
            svc.suspend(licence_id, reason)
        else:
            svc.reinstate(licence_id, reason)
    except licence_errors() as exc:
        fail(exc)
    click.echo(f"{licence_id}: {svc.row(licence_id)['status']}")


@licence.command("revoke")
@click.argument("licence_id")
@click.option("--reason", required=True, help="reason text")
@click.option(
    "--code",
    default="OTHER",
    show_default=True,
    help="ILLEGAL_OPERATION, FRAUD, ISSUED_IN_ERROR, HOLDER_REQUEST, ...",
)
def revoke_cmd(licence_id: str, reason: str, code: str) -> None:
    """Revoke a licence (final)."""
    _lifecycle("revoke", licence_id, reason, code)


@licence.command("suspend")
@click.argument("licence_id")
@click.option("--reason", required=True)
def suspend_cmd(licence_id: str, reason: str) -> None:
    """Suspend a valid licence."""
    _lifecycle("suspend", licence_id, reason, None)


@licence.command("reinstate")
@click.argument("licence_id")
@click.option("--reason", default="")
def reinstate_cmd(licence_id: str, reason: str) -> None:
    """Reinstate a suspended licence."""
    _lifecycle("reinstate", licence_id, reason, None)


@licence.command("status")
@click.argument("licence_id")
@click.option("--checkpoint", "size", type=int, default=None, help="tree size N (default: latest)")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None)
def status_cmd(licence_id: str, size: int | None, output: Path | None) -> None:
    """Print the licence's status as of checkpoint N, proven by the log: its issue receipt and
    its authority's status list receipt under N (checked here with the log key alone)."""
    svc = open_service(get_settings())
    try:
        proof = svc.status_proof(licence_id, size)
    except licence_errors() as exc:
        fail(exc)
    _emit(proof, output)


@licence.command("pdf")
@click.argument("licence_id")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def pdf_cmd(licence_id: str, output: Path) -> None:
    """Write the PAdES-signed PDF of a licence."""
    from licence.errors import LifecycleError
    from licence.pdf import render_pdf

    settings = get_settings()
    svc = open_service(settings)
    try:
        status = svc.row(licence_id)["status"]
        if status != "valid":
            # a fresh, validly sealed PDF of a revoked or superseded licence would mislead
            raise LifecycleError(f"licence {licence_id} is {status}: no new PDF is issued for it")
        data = render_pdf(svc, licence_id, settings.home / "cache" / "fonts")
    except licence_errors() as exc:
        fail(exc)
    output.write_bytes(data)
    click.echo(f"written: {output} ({len(data)} bytes)")


@licence.command("disclose")
@click.argument("licence_ref", metavar="LICENCE")
@click.option("--hide", multiple=True, required=True, help="fields to hide: f,g (repeatable)")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None)
def disclose_cmd(licence_ref: str, hide: tuple[str, ...], output: Path | None) -> None:
    """Write a redacted copy that still verifies against the same seal signature; with its
    ledger receipt (``{"licence": …, "receipt": …}``) once the licence has one, so the copy
    also verifies offline. LICENCE is a licence file (the holder's copy: no platform needed)
    or a licence identifier on this platform."""
    from holder.disclosure import DisclosureError, disclose_file, hidden_names

    path = Path(licence_ref)
    try:
        names = hidden_names(hide)
        if path.is_file():
            _emit(disclose_file(path.read_bytes(), names), output)
            return
        if path.suffix.lower() == ".json":
            fail(f"no such file: {licence_ref}")
    except DisclosureError as exc:
        fail(exc)
    from licence.trust import receipt_json

    svc = open_service(get_settings())
    try:
        disclosed = svc.disclose(licence_ref, names)
        receipt = receipt_json(svc, licence_ref)
    except licence_errors() as exc:
        fail(exc)
    _emit(disclosed if receipt is None else {"licence": disclosed, "receipt": receipt}, output)


@licence.command("expire")
def expire_cmd() -> None:
    """Mark licences past their end of validity as expired (what the daily DAG runs)."""
    svc = open_service(get_settings())
    for lid in svc.expire_due():
        click.echo(f"expired: {lid}")


@licence.command("types")
def types_cmd() -> None:
    """List the licence types of the catalogue."""
    from schemas import licence_types

    seen = set()
    for lt in licence_types.catalogue().values():
        if lt.code not in seen:
            seen.add(lt.code)
            click.echo(f"{lt.code}  {lt.name} ({lt.name_en}), holder: {lt.holder_kind}")


@licence.command("export")
@click.argument("licence_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["sd-jwt-vc"]),
    default="sd-jwt-vc",
    show_default=True,
    help="W3C VC 2.0 secured as an SD-JWT (VC-JOSE-COSE), signed with the licence's seal",
)
@click.option("--disclose", default=None, help="comma-separated fields to disclose (default all)")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None)
def export_cmd(licence_id: str, fmt: str, disclose: str | None, output: Path | None) -> None:
    """Export a licence in a format verifiers that do not know this hub read (its status lists:
    GET /v1/status-lists/AUTHORITY/PURPOSE); `hub verify` accepts the export back."""
    from licence.errors import LicenceNotFoundError
    from licence.exports import sd_jwt_vc
    from licence.sdjwt_vc import SdJwtError

    svc = open_service(get_settings())
    chosen = None if disclose is None else [f.strip() for f in disclose.split(",") if f.strip()]
    try:
        text = sd_jwt_vc(svc, licence_id, chosen)
    except LicenceNotFoundError:
        raise click.ClickException(f"no licence {licence_id}") from None
    except (SdJwtError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        output.write_text(text + "\n", encoding="ascii")
        click.echo(f"wrote {output} ({fmt})")
    else:
        click.echo(text)
