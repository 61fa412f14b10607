"""``hub cloudsign``: enrol a resident, sign a PDF remotely (PIN + OTP), verify, unlock, audit."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hub.commands.common import fail, ltv_options
from hub.settings import get_settings


def _service() -> Any:
    from hub.wiring import cloudsign_service

    return cloudsign_service(get_settings())


def _errors() -> tuple[type[Exception], ...]:
    from licence.ca import CertificateAuthorityError
    from licence.cloudsign.errors import CloudSignError
    from storage.keys import KeyStoreError

    return (CloudSignError, CertificateAuthorityError, KeyStoreError)


@click.group()
def cloudsign() -> None:
    """Cloud signature (电子云签): keys held by the platform, activated only by the holder."""


@cloudsign.command("enrol")
@click.argument("id_number", metavar="ID")
@click.option(
    "--pin",
    prompt="Choose a PIN (6-12 digits)",
    hide_input=True,
    confirmation_prompt=True,
    help="the holder's PIN (prompted, never echoed)",
)
@click.option("--qr", type=click.Path(dir_okay=False, path_type=Path), help="write the OTP QR PNG")
@click.option(
    "--profile",
    type=click.Choice(["standard", "national"]),
    default=None,
    help="key algorithm: standard = ECDSA P-256, national = SM2 (default: HUB_CRYPTO_PROFILE)",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    help="API client (the holder's app or signing service) that may use the credential; "
    "repeat for several, or add later with `hub cloudsign bind`",
)
def enrol_cmd(
    id_number: str, pin: str, qr: Path | None, profile: str | None, clients: tuple[str, ...]
) -> None:
    """Create a signing credential for resident ID (must be in the population library)."""
    svc = _service()
    try:
        enrolment = svc.enrol(id_number.strip().upper(), pin, profile)
        for client in clients:
            svc.bind(enrolment.credential_id, client, by="holder (enrolment)")
    except _errors() as exc:
        fail(exc)
    finally:
        svc.flush_audit()
    click.echo(f"credential: {enrolment.credential_id}")
    click.echo(f"certificate: {enrolment.certificate.subject.rfc4514_string()}")
    click.echo(f"key: {svc.key_algorithm(enrolment.credential_id)}")
    for client in clients:
        click.echo(f"bound to client: {client}")
    click.echo("add this to your authenticator app (shown once):")
    click.echo(enrolment.otp_uri)
    if qr is not None:
        import qrcode

        qrcode.make(enrolment.otp_uri).save(str(qr))
        click.echo(f"written: {qr}")


@cloudsign.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--credential", required=True, help="credential ID (from enrol or list)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--url", default=None, help="sign through a running hub API at this base URL")
@click.option(
    "--api-key",
    default=None,
    help="the front end's API key for --url (prompted when missing)",
)
@click.option(
    "--purpose",
    default=None,
    help="with --url: the purpose of a 'cloudsign' grant of the client (X-Purpose)",
)
@ltv_options
def sign_cmd(
    file: Path,
    credential: str,
    output: Path | None,
    url: str | None,
    api_key: str | None,
    purpose: str | None,
    ltv: bool,
    tsa_url: str | None,
) -> None:
    """Sign the PDF FILE with CREDENTIAL; asks for the PIN and the current OTP."""
    from licence.cloudsign.remote import CscSigner, HttpCsc, LocalCsc, sign_pdf

    def activate(digest: bytes) -> tuple[str, str]:
        click.echo(f"authorising one signature over SHA-256 {digest.hex()}", err=True)
        pin = click.prompt("PIN", hide_input=True, err=True)
        otp = click.prompt("one-time password", err=True)
        return str(pin), str(otp)

    if ltv and not tsa_url:
        fail("--ltv needs the time-stamping service: --tsa URL (or HUB_TSA_URL)")
    output = output or file.with_name(f"{file.stem}.signed.pdf")
    try:
        if url:
            import httpx

            key = api_key or click.prompt("API key", hide_input=True, err=True)
            declared = purpose or click.prompt("purpose (X-Purpose)", err=True)
            headers = {"Authorization": f"Bearer {key}", "X-Purpose": declared}
            client: Any = HttpCsc(httpx.Client(base_url=url, timeout=30, headers=headers))
        else:
            client = LocalCsc(_service())
        signer = CscSigner(client, credential, activate)
        if ltv:
            from cryptography import x509

            # the chain's self-signed end: the platform root the validation data leads up to
            chain = [x509.load_der_x509_certificate(c) for c in client.certificates(credential)]
            roots = [c for c in chain if c.issuer == c.subject]
            signed = sign_pdf(file.read_bytes(), signer, tsa_url=tsa_url, trust_roots=roots)
        else:
            signed = sign_pdf(file.read_bytes(), signer)
    except _errors() as exc:
        fail(exc)
    except (OSError, ValueError) as exc:  # pyHanko's SigningError is a ValueError
        from licence.ltv import why_not

        fail(f"the long-term signature could not be made: {why_not(exc)}")
    finally:
        if not url:
            client.service.flush_audit()  # the audit rows reach the ledger before we exit
    output.write_bytes(signed)
    click.echo(f"signed: {output}")


@cloudsign.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_cmd(file: Path) -> None:
    """Check every signature of FILE against the platform root and the audit trail."""
    from cryptography import x509

    from licence import ca
    from licence.cloudsign.remote import verify_pdf

    svc = _service()
    if not svc.objects.exists(ca.ROOT_OBJECT):
        fail(ca.CertificateAuthorityError("no platform CA yet: run `hub init`"))
    root = x509.load_pem_x509_certificate(svc.objects.get(ca.ROOT_OBJECT))
    reports = verify_pdf(file.read_bytes(), root, svc, svc.ledger)
    if not reports:
        fail(ValueError(f"{file} carries no signature"))
    out = [{**r.__dict__, "ok": r.ok} for r in reports]
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    if not all(r.ok for r in reports):
        sys.exit(1)


@cloudsign.command("list")
@click.argument("id_number", metavar="ID")
def list_cmd(id_number: str) -> None:
    """The credentials of resident ID, with their status."""
    svc = _service()
    for credential in svc.list_credentials(id_number.strip().upper()):
        info = svc.info(credential)
        clients = ",".join(svc.bound_clients(credential)) or "-"
        click.echo(f"{credential}\t{info['status']}\t{clients}\t{info['cert']['subjectDN']}")


@cloudsign.command("unlock")
@click.argument("credential")
@click.option("--officer", required=True, help="who checked the holder's identity in person")
def unlock_cmd(credential: str, officer: str) -> None:
    """Reset a credential locked after 5 wrong PINs/OTPs of a client (every client's count
    starts again; audited)."""
    svc = _service()
    try:
        svc.unlock(credential, officer)
    except _errors() as exc:
        fail(exc)
    finally:
        svc.flush_audit()
    click.echo(f"unlocked: {credential}")


@cloudsign.command("bind")
@click.argument("credential")
@click.option("--client", "client_id", required=True, help="the API client's id")
@click.option("--officer", required=True, help="who checked the holder's identity and request")
def bind_cmd(credential: str, client_id: str, officer: str) -> None:
    """Let API client --client (the holder's app or a signing service the holder chose) use
    CREDENTIAL over the CSC API; no other client can see or use it (audited)."""
    svc = _service()
    try:
        svc.bind(credential, client_id, by=officer)
    except _errors() as exc:
        fail(exc)
    finally:
        svc.flush_audit()
    click.echo(f"bound: {credential} -> {client_id}")


@cloudsign.command("unbind")
@click.argument("credential")
@click.option("--client", "client_id", required=True, help="the API client's id")
@click.option("--officer", required=True, help="who recorded the holder's request")
def unbind_cmd(credential: str, client_id: str, officer: str) -> None:
    """Withdraw a client's use of CREDENTIAL (audited)."""
    svc = _service()
    try:
        gone = svc.unbind(credential, client_id, by=officer)
    finally:
        svc.flush_audit()
    if not gone:
        fail(ValueError(f"client {client_id!r} is not bound to {credential}"))
    click.echo(f"unbound: {credential} -/-> {client_id}")


@cloudsign.command("pin")
@click.argument("credential")
def pin_cmd(credential: str) -> None:
    """Change the PIN of CREDENTIAL (asks for the current PIN, an OTP and the new PIN)."""
    pin = click.prompt("current PIN", hide_input=True)
    otp = click.prompt("one-time password")
    new_pin = click.prompt("new PIN (6-12 digits)", hide_input=True, confirmation_prompt=True)
    svc = _service()
    try:
        svc.change_pin(credential, pin, otp, new_pin)
    except _errors() as exc:
        fail(exc)
    finally:
        svc.flush_audit()
    click.echo(f"PIN changed: {credential}")


@cloudsign.command("revoke")
@click.argument("credential")
@click.option("--officer", required=True, help="who recorded the revocation")
@click.option("--reason", required=True, help="why (forgotten PIN, lost phone, ...)")
def revoke_cmd(credential: str, officer: str, reason: str) -> None:
    """Revoke CREDENTIAL for good: its key is destroyed (audited)."""
    svc = _service()
    try:
        svc.revoke(credential, officer, reason)
    except _errors() as exc:
        fail(exc)
    finally:
        svc.flush_audit()
    click.echo(f"revoked: {credential}")


@cloudsign.command("audit")
@click.argument("credential")
def audit_cmd(credential: str) -> None:
    """The audit trail of a credential: each record and its ledger entry."""
    for row in _service().audit_trail(credential):
        click.echo(f"{row['entry_id']}\t{row['record']}")
