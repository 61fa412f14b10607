"""A hub's licences and status lists in W3C formats (see :mod:`licence.sdjwt_vc`), built from
the licence service: the sealed licence, its seal's key and certificate chain, its receipt, and
the authority's status list as last committed to the log."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from licence import authorities
from licence.errors import LicenceNotFoundError
from licence.sdjwt_vc import (
    SdJwtError,
    StatusRef,
    export_credential,
    status_list_credential,
)
from licence.signers import ECDSA_P256
from licence.status_list import PURPOSES, parse_entry
from licence.trust import receipt_json
from schemas import licence_types

FORMATS = ("sd-jwt-vc",)


def base_url(svc: Any) -> str:
    """The hub's public address, from its verification address (``…/verify``)."""
    parts = urllib.parse.urlsplit(str(svc.verification_url))
    return f"{parts.scheme}://{parts.netloc}"


def status_list_url(svc: Any, authority: str, purpose: str) -> str:
    return f"{base_url(svc)}/v1/status-lists/{authority}/{purpose}"


def _issuer(uscc: str) -> dict[str, str]:
    known = authorities.registry().get(uscc)
    return {"id": f"urn:uscc:{uscc}", "name": known.name if known else uscc}


def _seal_material(svc: Any, seal_id: str) -> tuple[Any, list[Any], str]:
    seal = svc.store.seal(seal_id)
    if seal is None:
        raise SdJwtError(f"seal {seal_id} is unknown here")
    if seal["algorithm"] != ECDSA_P256:
        raise SdJwtError(
            f"seal {seal_id} is {seal['algorithm']}: an SD-JWT VC is signed with ES256 (P-256)"
        )
    from licence.verify.checks_seal import load_certificate

    key = svc.keys.load(seal["key_name"])
    chain = [load_certificate(str(seal["cert_pem"])), svc.platform_ca().seal_ca]
    return key, chain, str(seal["authority"])


def sd_jwt_vc(
    svc: Any, licence_id: str, disclose: list[str] | None = None, now: dt.datetime | None = None
) -> str:
    """The licence as an SD-JWT VC signed with its own seal's key; ``disclose`` limits the
    disclosures to those fields. LicenceNotFoundError / SdJwtError when it cannot be made."""
    row = svc.store.licence(licence_id)
    if row is None:
        raise LicenceNotFoundError(licence_id)
    doc = svc.document(licence_id)
    key, chain, authority = _seal_material(svc, str(doc["header"]["seal_id"]))
    lt = licence_types.get(str(row["type_code"]))
    status = [
        StatusRef(p, status_list_url(svc, authority, p), int(row["status_index"])) for p in PURPOSES
    ]
    moment = now or dt.datetime.now(dt.UTC)
    return export_credential(
        doc,
        key=key,
        chain=chain,
        issuer=_issuer(authority),
        licence_type={"code": lt.code, "title": lt.name},
        issued_at=int(moment.timestamp()),
        status=status,
        receipt=receipt_json(svc, licence_id),
        disclose=disclose,
    )


def status_list_vc(
    svc: Any, authority: str, purpose: str, now: dt.datetime | None = None
) -> str | None:
    """The authority's ``purpose`` list as last committed to the log, as a W3C
    BitstringStatusListCredential signed with the authority's active seal; None when no list
    has been committed yet (or the authority has no seal)."""
    if purpose not in PURPOSES:
        raise SdJwtError(f"status purpose is one of {', '.join(PURPOSES)}")
    found = svc.store.status_list_at(authority)
    if found is None:
        return None
    receipt = svc.ledger.receipt(found[1])
    if receipt is None or receipt.data is None:
        return None
    snap = parse_entry(receipt.data)
    moment = now or dt.datetime.now(dt.UTC)
    seal = svc.store.active_seal(authority, moment)
    if seal is None:
        return None
    key, chain, _ = _seal_material(svc, str(seal["seal_id"]))
    return status_list_credential(
        snap.lists[purpose],
        snap.size,
        purpose=purpose,
        url=status_list_url(svc, authority, purpose),
        issuer=_issuer(authority),
        valid_from=snap.time,
        key=key,
        chain=chain,
        issued_at=int(moment.timestamp()),
    )
