"""``hub licence``: issue, show, lifecycle, PDF and selective disclosure of electronic licences."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from hub.commands.common import fail, licence_errors, ltv_options
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
@ltv_options
def pdf_cmd(licence_id: str, output: Path, ltv: bool, tsa_url: str | None) -> None:
    """Write the PAdES-signed PDF of a licence."""
    from licence.errors import LifecycleError
    from licence.pdf import render_pdf

    if ltv and not tsa_url:
        fail("--ltv needs the time-stamping service: --tsa URL (or HUB_TSA_URL)")
    settings = get_settings()
    svc = open_service(settings)
    try:
        status = svc.row(licence_id)["status"]
        if status != "valid":
            # a fresh, validly sealed PDF of a revoked or superseded licence would mislead
            raise LifecycleError(f"licence {licence_id} is {status}: no new PDF is issued for it")
        fonts = settings.home / "cache" / "fonts"
        data = render_pdf(svc, licence_id, fonts, tsa_url if ltv else None)
    except licence_errors() as exc:
        fail(exc)
    except (OSError, ValueError) as exc:  # pyHanko's SigningError is a ValueError
        from licence.ltv import why_not

        fail(f"the long-term signature could not be made: {why_not(exc)}")
    output.write_bytes(data)
    click.echo(f"written: {output} ({len(data)} bytes)")


@licence.command("timestamp")
@click.argument("pdf", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option(
    "--tsa", "tsa_url", envvar="HUB_TSA_URL", required=True, help="the platform TSA's URL"
)
def timestamp_cmd(pdf: Path, output: Path, tsa_url: str) -> None:
    """Upgrade a sealed PDF to B-LTA, or renew its archive: validation data for its last time
    stamp and a new document time stamp (run before that time stamp's certificate expires)."""
    from licence.ltv import add_archive_timestamp

    svc = open_service(get_settings())
    try:
        data = add_archive_timestamp(pdf.read_bytes(), [svc.platform_ca().root], tsa_url)
    except licence_errors() as exc:
        fail(exc)
    except (OSError, ValueError) as exc:
        from licence.ltv import why_not

        fail(f"{pdf} could not be time-stamped: {why_not(exc)}")
    output.write_bytes(data)
    click.echo(f"written: {output} ({len(data)} bytes)")


@licence.command("ltv-serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=59457, show_default=True)
@click.option(
    "--base-url",
    default=None,
    help="the URL others reach it at (default HUB_LTV_URL, else http://HOST:PORT)",
)
def ltv_serve_cmd(host: str, port: int, base_url: str | None) -> None:
    """Run the platform's RFC 3161 TSA (POST /tsa), OCSP responder (POST /ocsp) and CRLs
    (GET /crl/seal-ca.crl, /crl/sign-ca.crl, /crl/root.crl)."""
    from licence.ltv import authority_of, server
    from storage.objects import object_store

    settings = get_settings()
    svc = open_service(settings)
    try:
        # the personal signing CA's certificate is where the cloud signature keeps it
        authority = authority_of(
            svc,
            base_url or settings.ltv_url or f"http://{host}:{port}",
            cert_objects=object_store(settings),
        )
    except licence_errors() as exc:
        fail(exc)
    srv = server(authority, host, port)
    click.echo(f"serving TSA, OCSP and CRLs on http://{host}:{port}")
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


@licence.command("ofd")
@click.argument("licence_id")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def ofd_cmd(licence_id: str, output: Path) -> None:
    """Write the licence as an OFD file (GB/T 33190) sealed with a GB/T 38540 signature."""
    from licence.errors import LifecycleError
    from licence.ofd import render_ofd

    settings = get_settings()
    svc = open_service(settings)
    try:
        status = svc.row(licence_id)["status"]
        if status != "valid":
            raise LifecycleError(f"licence {licence_id} is {status}: no new OFD is issued for it")
        data = render_ofd(svc, licence_id, settings.home / "cache" / "fonts")
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


@licence.group("types", invoke_without_command=True)
@click.pass_context
def types_group(ctx: click.Context) -> None:
    """The hub's licence types: list, show, add (a new type or a new version of one)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(types_list_cmd)


def _open_store() -> Any:
    from licence.store import LicenceStore
    from licence.tables import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    return LicenceStore(engine_for(settings.db_url))


@types_group.command("list")
def types_list_cmd() -> None:
    """List the licence types: code, name, catalogue name, holder kind, version."""
    store = _open_store()
    for code, versions in sorted(store.type_versions().items()):
        v = versions[-1]
        lt = v.lt
        click.echo(
            f"{code}  {lt.name} ({lt.name_en}) [{v.stem}], holder: {lt.holder_kind}, "
            f"issued by: {', '.join(lt.issuer_kinds)}, version {len(versions)}"
        )


@types_group.command("show")
@click.argument("type_name", metavar="TYPE")
def types_show_cmd(type_name: str) -> None:
    """Print a type's current YAML (fields, validity, holder kind) and its versions."""
    from schemas import licence_types

    store = _open_store()
    try:
        lt = licence_types.get(type_name)
    except licence_types.LicenceTypeError as exc:
        fail(exc)
    from sqlalchemy import select

    from licence.tables import type_versions

    cols = type_versions.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(cols.version, cols.created_at, cols.yaml)
            .where(cols.code == lt.code)
            .order_by(cols.version)
        ).all()
    for version, created, _ in rows:
        since = "shipped" if created.year == 1970 else f"since {created:%Y-%m-%d %H:%M:%S} UTC"
        click.echo(f"# version {version} ({since})")
    click.echo(rows[-1][2].rstrip())


@types_group.command("add")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def types_add_cmd(file: Path) -> None:
    """Add the licence type of FILE.yaml (its catalogue name is the file's name), or a new
    version of it when its code exists: licences already issued keep the version they were
    sealed under (their PDFs do not change)."""
    from schemas import licence_types

    store = _open_store()
    try:
        version = store.add_type(file.read_text(encoding="utf-8"), file.stem)
    except (licence_types.LicenceTypeError, UnicodeDecodeError) as exc:
        fail(exc)
    lt = licence_types.get(file.stem)
    if version == 0:
        click.echo(f"{lt.code} {lt.name}: unchanged")
    else:
        click.echo(f"{lt.code} {lt.name}: version {version}")


@licence.command("issue-batch")
@click.argument("type_name", metavar="TYPE")
@click.option("--authority", required=True, help="USCC of the issuing authority")
@click.option(
    "--from",
    "from_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="CSV: holder_id, holder_name, [valid_until,] the type's fields (key or Chinese name)",
)
@click.option(
    "--from-dataset",
    default=None,
    help="issue to the golden records of the library this dataset feeds (e.g. mr_enterprise)",
)
@click.option(
    "--where",
    multiple=True,
    help="FIELD=VALUE or FIELD!=VALUE on library fields (repeatable; with --from-dataset)",
)
@click.option(
    "--all-holders",
    is_flag=True,
    help="with --from-dataset: also holders that already hold a valid licence of TYPE",
)
@click.option("--field", "fields", multiple=True, help="k=v for every row, repeatable")
@click.option("--chunk", type=int, default=500, show_default=True, help="licences per commit")
@click.option("--max-rate", type=float, default=0.0, help="licences/s at most (0: no limit)")
@click.option(
    "--report",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="write the refused rows (row, reason) to this CSV file",
)
def issue_batch_cmd(
    type_name: str,
    authority: str,
    from_file: Path | None,
    from_dataset: str | None,
    where: tuple[str, ...],
    all_holders: bool,
    fields: tuple[str, ...],
    chunk: int,
    max_rate: float,
    report: Path | None,
) -> None:
    """Issue licences of TYPE in bulk from a CSV file or from library records, with a progress
    bar. Interrupted (even killed), the same command resumes: rows already issued or refused
    are skipped, none is issued twice. Bad rows are refused one by one with their reason."""
    import csv
    import sys

    from licence.bulk import BulkError, BulkIssuer, library_rows, parse_where, read_csv
    from schemas import licence_types

    if (from_file is None) == (from_dataset is None):
        fail("give exactly one of --from FILE.csv and --from-dataset DATASET")
    if where and from_dataset is None:
        fail("--where filters library records: use it with --from-dataset")
    constants = _field_values(fields)
    settings = get_settings()
    svc = open_service(settings)
    errors: tuple[type[Exception], ...] = (
        BulkError,
        licence_types.LicenceTypeError,
        *licence_errors(),
    )
    try:
        lt = licence_types.get(type_name)
        issuer = BulkIssuer(svc, chunk, max_rate)
        issuer.check(type_name, authority)
        if from_file is not None:
            source = read_csv(from_file, lt, constants)
        else:
            from hub.wiring import library_store
            from schemas.contracts import load_contracts

            contract = load_contracts().get(str(from_dataset))
            if contract is None:
                raise BulkError(f"unknown dataset {from_dataset!r}")
            wanted = "legal-entity" if lt.holder_kind == "entity" else "population"
            if contract.library != wanted:
                raise BulkError(
                    f"{from_dataset} feeds the {contract.library} library; {lt.name} is held by "
                    f"{'entities' if lt.holder_kind == 'entity' else 'persons'}"
                )
            skip = set() if all_holders else svc.store.holders_with(lt.code)
            source = library_rows(
                library_store(settings), wanted, lt, parse_where(where), constants, skip
            )
        total = len(source.rows) + len(source.refused)
        with click.progressbar(
            length=total, label=f"issuing {lt.name}", file=sys.stderr, show_pos=True
        ) as bar:
            result = issuer.run(type_name, authority, source, bar.update)
    except errors as exc:
        fail(exc)
    if report is not None:
        with report.open("w", encoding="utf-8-sig", newline="") as out:
            w = csv.writer(out)
            w.writerow(["row", "reason"])
            w.writerows(result.refused)
    resumed = f", {result.resumed} done by an earlier run" if result.resumed else ""
    click.echo(
        f"job {result.job_id}: {result.total} rows, {result.issued} issued, "
        f"{len(result.refused)} refused{resumed}"
    )
    for key, why in result.refused[:5]:
        # a row of library records is keyed by its holder: shown masked on the terminal
        shown = key if len(key) < 15 else f"{key[:6]}…{key[-4:]}"
        click.echo(f"  refused row {shown}: {why}", err=True)
    if len(result.refused) > 5:
        more = f" (all in {report})" if report else " (--report FILE.csv lists them all)"
        click.echo(f"  … {len(result.refused) - 5} more{more}", err=True)


@licence.command("governance")
@click.option("--authority", default=None, help="only this authority's licences (USCC)")
@click.option(
    "--run", "run_now", is_flag=True, help="reconcile with the libraries now (what the DAG runs)"
)
def governance_cmd(authority: str | None, run_now: bool) -> None:
    """Governance (治理): the open findings on valid licences (holder died, entity no longer
    operating, name or legal representative changed, holder unknown), per authority, with the
    library run that said so; --run reconciles first and applies each type's policy."""
    from hub.wiring import library_store
    from licence import governance
    from licence.governance_run import run_governance

    settings = get_settings()
    svc = open_service(settings)
    if run_now:
        result = run_governance(svc, library_store(settings), authority)
        click.echo(
            f"governance run {result.run_no}: {result.checked} valid licences checked, "
            f"{len(result.findings)} findings ({result.new} new), "
            f"{len(result.suspended)} suspended"
        )
    rows = svc.store.open_findings(authority)
    by_authority: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_authority.setdefault(row["authority"], []).append(row)
    for auth, found in sorted(by_authority.items()):
        click.echo(f"{auth}: {len(found)} open findings")
        for row in found:
            ev = json.loads(row["evidence"])
            source = f"{ev['dataset']} run {ev['library_run']}" if ev.get("dataset") else "—"
            click.echo(
                f"  {row['licence_id']}  {row['kind']} ({governance.KINDS[row['kind']]}), "
                f"{row['action']}; says {source}; governance runs {row['first_run']}"
                f"–{row['last_run']}"
            )
    if not rows:
        click.echo("no open findings")


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
