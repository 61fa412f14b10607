"""Holders, authorities and field values shared by the verifier tests."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from schemas import resident_id, uscc

PROVINCE_MR = "11430000006122244L"  # 湖南省市场监督管理局 (may issue business licences)
PROVINCE_HR = "114300000061427127"  # 湖南省人力资源和社会保障厅 (may not)
PERSON_BODY = "43010219900307123"
PERSON_ID = PERSON_BODY + resident_id.check_character(PERSON_BODY)
ENTITY_BODY = "91430100MA4L1234" + uscc.org_code_check("MA4L1234")
ENTITY_USCC = ENTITY_BODY + uscc.check_character(ENTITY_BODY)
ENTITY_NAME = "长沙星辰餐饮有限公司"

BUSINESS_FIELDS = {
    "entity_type": "有限责任公司（自然人投资或控股）",
    "legal_representative": "张三",
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": "餐饮服务；食品销售。",
}


def run(svc: Any, obj: Any, ctx: Any = None) -> Any:
    """verify_input over ``obj`` (JSON-encoded unless bytes), online unless ``ctx`` given."""
    from licence.trust import online_context
    from licence.verify import verify_input

    data = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
    return verify_input(data, ctx or online_context(svc))


def anchors(svc: Any) -> Any:
    """What a verifier holds after `hub trust install` on this platform: its log key and CA."""
    from licence.trust_anchors import TrustAnchors, own_anchor

    return TrustAnchors((own_anchor(svc),))


def result(report: Any, check: str) -> Any:
    """The named check's result in a report (fails the test if it is missing)."""
    for c in report.checks:
        if c.check == check:
            return c
    raise AssertionError(f"no check {check!r} in:\n{report.to_text()}")


def signer_for(svc: Any, seal_row: dict[str, Any]) -> Any:
    from licence.signers import EcdsaP256Signer

    return EcdsaP256Signer(svc.keys.load(seal_row["key_name"]))


def resign(svc: Any, doc: dict[str, Any], seal_row: dict[str, Any], **header: str) -> dict:
    """A copy of ``doc`` whose header (changed by ``header``) is signed with ``seal_row``'s key
    and carries that seal's certificate: what a forger holding that key could make."""
    from licence import document

    out = copy.deepcopy(doc)
    out["header"] = {**doc["header"], **header}
    sig = signer_for(svc, seal_row).sign(document.canonical(out["header"]))
    out["signature"] = {
        "algorithm": "ecdsa-p256-sha256",
        "value": base64.b64encode(sig).decode(),
        "certificate": seal_row["cert_pem"],
    }
    return out


def forge(
    svc: Any,
    values: dict[str, Any],
    seal_row: dict[str, Any],
    lid: str,
    signed_at: str,
) -> dict[str, Any]:
    """A freshly committed and sealed licence with arbitrary content (never issued)."""
    from licence import document

    values = {**values, "证照标识": lid}
    fields = document.commit_fields(values)
    root = document.document_digest(fields)
    header = document.signed_header(lid, root, "sha256", seal_row["seal_id"], signed_at)
    doc = {"header": header, "signature": {}, "fields": fields}
    return resign(svc, doc, seal_row)


def flip_path(bundle: dict[str, Any]) -> dict[str, Any]:
    """A copy of a licence file whose receipt's first proof hash has one bit flipped."""
    forged = json.loads(json.dumps(bundle))
    first = bytearray.fromhex(forged["receipt"]["path"][0])
    first[0] ^= 0x01
    forged["receipt"]["path"][0] = first.hex()
    return forged
