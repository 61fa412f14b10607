"""Licences exported as W3C VC 2.0 SD-JWTs and status lists as Bitstring Status List
credentials: read by an independent implementation (the IETF SD-JWT reference, ``sd-jwt``, and
``jwcrypto``), verified back by ``verify_input`` with the full policy, tampering caught."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from sd_jwt.verifier import SDJWTVerifier
from verify_fixtures import anchors, result

from licence.exports import sd_jwt_vc, status_list_vc
from licence.sdjwt_vc import b64u_decode
from licence.trust import export_bundle, offline_context, online_context
from licence.verify import FAILED, PASSED, TOTAL_FAILED, TOTAL_PASSED, verify_input
from licence.verify.context import VALIDITY_END


def _leaf_key(token: str) -> JWK:
    header = json.loads(b64u_decode(token.split(".")[0], "header"))
    from cryptography import x509

    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    return JWK.from_pyca(cert.public_key())


def _reference_claims(export: str) -> dict:
    """What the IETF SD-JWT reference implementation reads from our export."""
    verifier = SDJWTVerifier(export, lambda _iss, _header: _leaf_key(export))
    return verifier.get_verified_payload()


def test_the_reference_implementation_reads_our_credential(world) -> None:
    export = sd_jwt_vc(world.svc, world.valid)
    claims = _reference_claims(export)
    doc = world.svc.document(world.valid)
    shown = {n: e["value"] for n, e in doc["fields"].items() if "value" in e}
    subject = claims["credentialSubject"]
    assert {n: subject[n] for n in shown} == shown
    assert claims["type"] == ["VerifiableCredential", "ElectronicLicenceCredential"]
    statuses = {s["statusPurpose"]: s for s in claims["credentialStatus"]}
    assert set(statuses) == {"revocation", "suspension"}
    assert statuses["revocation"]["statusListCredential"].endswith("/revocation")


def test_an_export_verifies_with_the_full_policy_online_and_offline(world) -> None:
    export = sd_jwt_vc(world.svc, world.valid).encode()
    online = verify_input(export, online_context(world.svc))
    assert online.verdict == TOTAL_PASSED, online.to_text()
    assert online.kind == "sd-jwt-vc" and result(online, "sd_jwt").status == PASSED
    ctx = offline_context(export_bundle(world.svc), anchors(world.svc))
    offline = verify_input(export, ctx)
    assert offline.verdict == TOTAL_PASSED, offline.to_text()


def test_selective_disclosure_hides_values_and_still_verifies(world) -> None:
    doc = world.svc.document(world.valid)
    names = [n for n, e in doc["fields"].items() if "value" in e]
    keep = [*[n for n in names if n != VALIDITY_END][:2], VALIDITY_END]  # validity is checked
    export = sd_jwt_vc(world.svc, world.valid, disclose=keep)
    hidden = [doc["fields"][n]["value"] for n in names if n not in keep]
    decoded = "".join(
        b64u_decode(p, "part").decode("utf-8", "replace") for p in export.split("~")[1:] if p
    )
    assert not any(str(v) in decoded for v in hidden if len(str(v)) > 3)
    assert sorted(_reference_claims(export)["credentialSubject"]) == sorted(["licenceType", *keep])
    report = verify_input(export.encode(), online_context(world.svc))
    assert report.verdict == TOTAL_PASSED, report.to_text()


def _flip(text: str, at: int) -> str:
    ch = "A" if text[at] != "A" else "B"
    return text[:at] + ch + text[at + 1 :]


@pytest.mark.parametrize("part", ["disclosure", "payload", "signature"])
def test_an_altered_credential_fails_here_and_in_the_reference(world, part: str) -> None:
    export = sd_jwt_vc(world.svc, world.valid)
    jws, *disclosures = export.split("~")
    h, p, s = jws.split(".")
    if part == "disclosure":
        disclosures[0] = _flip(disclosures[0], 5)
    elif part == "payload":
        p = _flip(p, len(p) // 2)
    else:
        s = _flip(s, 10)
    forged = "~".join([f"{h}.{p}.{s}", *disclosures])
    report = verify_input(forged.encode(), online_context(world.svc))
    assert report.verdict == TOTAL_FAILED
    assert result(report, "sd_jwt").status == FAILED
    with pytest.raises(Exception):  # noqa: B017 - the reference raises what its parts raise
        _reference_claims(forged)


def test_a_revoked_licence_exports_but_fails_on_its_status(world) -> None:
    export = sd_jwt_vc(world.svc, world.revoked)
    report = verify_input(export.encode(), online_context(world.svc))
    assert report.verdict == TOTAL_FAILED
    assert result(report, "sd_jwt").status == PASSED
    assert result(report, "status").status == FAILED


def test_the_status_list_credential_sets_the_revoked_licences_bit(world) -> None:
    world.svc.ledger.sequence()  # the status list of the latest state is committed
    row = world.svc.store.licence(world.revoked)
    valid_row = world.svc.store.licence(world.valid)
    token = status_list_vc(world.svc, row["authority"], "revocation")
    assert token is not None
    jws = JWS()
    jws.deserialize(token)
    jws.verify(_leaf_key(token))  # jwcrypto: signed by the authority's seal
    claims = json.loads(jws.payload)
    subject = claims["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    assert subject["encodedList"].startswith("u")
    bits = gzip.decompress(b64u_decode(subject["encodedList"][1:], "list"))
    assert len(bits) * 8 >= 131_072

    def bit(i: int) -> bool:
        return bool(bits[i // 8] & (0x80 >> (i % 8)))

    assert bit(int(row["status_index"])) and not bit(int(valid_row["status_index"]))


def test_export_by_command_line_and_verify_it_back(world, monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    import hub.settings
    from hub.cli import main

    monkeypatch.setattr(hub.settings, "_settings", world.svc_settings)
    run = CliRunner()
    out_file = tmp_path / "lic.sdjwt"
    done = run.invoke(
        main, ["licence", "export", world.valid, "--format", "sd-jwt-vc", "-o", str(out_file)]
    )
    assert done.exit_code == 0, done.output
    checked = run.invoke(main, ["verify", str(out_file), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["verdict"] == "TOTAL_PASSED"
    unknown = run.invoke(main, ["licence", "export", world.valid, "--disclose", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output


def test_the_api_serves_status_lists_and_verifies_exports(world) -> None:
    from fastapi.testclient import TestClient

    from hub.wiring import api_app

    world.svc.ledger.sequence()
    authority = world.svc.store.licence(world.valid)["authority"]
    with TestClient(api_app(world.svc_settings, background=False)) as http:
        got = http.get(f"/v1/status-lists/{authority}/revocation")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/vc+jwt")
        assert http.get("/v1/status-lists/91110000000000000X/revocation").status_code == 404
        assert http.get(f"/v1/status-lists/{authority}/sideways").status_code == 422
        export = sd_jwt_vc(world.svc, world.valid)
        verdict = http.post(
            "/v1/licences/verify",
            content=export,
            headers={"Content-Type": "application/vc+sd-jwt"},
        ).json()
        assert verdict["verdict"] == "TOTAL_PASSED" and verdict["kind"] == "sd-jwt-vc"
