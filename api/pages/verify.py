"""``/verify``: staff at a service window drop a licence file or paste (or scan) its QR payload.

The page is open without signing in on purpose: the person at the window holds the licence
(the file, or the QR code whose payload carries the document digest), and the page shows only
the verdict, the checks and what is printed on the licence itself (the ID number masked).
The verdict is in large type: green TOTAL_PASSED, red TOTAL_FAILED naming the failing checks,
amber INDETERMINATE; a revoked or suspended licence shows its status, date and reason.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from api.pages import web

MAX_UPLOAD = 10 * 1024 * 1024
PASSED, FAILED, INDETERMINATE = "PASSED", "FAILED", "INDETERMINATE"

CHECK_ZH = {
    "input": "文件格式",
    "format": "文件格式",
    "qr_payload": "二维码",
    "qr_lookup": "二维码查询",
    "checkpoint": "检查点签名",
    "identifier": "证照标识",
    "integrity": "内容完整性",
    "seal_signature": "印章签名",
    "seal_certificate": "印章证书",
    "seal_status": "印章状态",
    "authority": "发证机关",
    "ledger_inclusion": "上链存证",
    "checkpoint_signature": "检查点签名",
    "anchor": "区块链锚定",
    "status": "证照状态",
    "validity_period": "有效期",
    "pdf_signature": "PDF 签章",
    "pdf_licence": "PDF 与证照",
    "freshness": "数据时效",
}
STATUS_ZH = {
    "revoked": "已吊销",
    "suspended": "已暂扣",
    "expired": "已失效",
    "superseded": "已变更",
    "withdrawn": "已撤销",
    "cancelled": "已注销",
}
VERDICT_ZH = {
    "TOTAL_PASSED": "核验通过",
    "TOTAL_FAILED": "核验未通过",
    "INDETERMINATE": "无法确定",
}

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)


@dataclass(frozen=True)
class Line:
    """One row of the checks table (the verifier's CheckResult, or one of this page's own)."""

    check: str
    status: str
    reason: str
    en: str
    zh: str


@dataclass
class Outcome:
    """What the page shows: verdict, checks, the licence as printed, its status banner."""

    verdict: str
    checks: list[Line]
    source: str
    licence: dict[str, str] = field(default_factory=dict)
    banner: dict[str, str] | None = None

    @property
    def failed(self) -> list[Line]:
        return [c for c in self.checks if c.status == FAILED]


def _verdict(lines: list[Line]) -> str:
    if any(c.status == FAILED for c in lines):
        return "TOTAL_FAILED"
    if lines and all(c.status == PASSED for c in lines):
        return "TOTAL_PASSED"
    return "INDETERMINATE"


def _refused(source: str, status: str, reason: str, en: str, zh: str) -> Outcome:
    line = Line("input" if source != "QR" else "qr_payload", status, reason, en, zh)
    return Outcome(_verdict([line]), [line], source)


def _mask(identifier: str) -> str:
    """Resident ID numbers are shown as 340404********123X (the holder is in front of you)."""
    if len(identifier) == 18 and identifier[:17].isdigit():
        return identifier[:6] + "*" * 8 + identifier[14:]
    return identifier


def _printed(doc: dict[str, Any]) -> dict[str, str]:
    """The fields printed on the licence that identify it (disclosed values only)."""
    fields = doc.get("fields") or {}

    def value(name: str) -> str:
        entry = fields.get(name)
        return str(entry.get("value", "（未披露）")) if isinstance(entry, dict) else ""

    def day(name: str) -> str:
        text = value(name)
        return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text

    return {
        "licence_id": str(doc.get("header", {}).get("licence_id", "")),
        "name": value("证照名称") or value("证照类型名称"),
        "number": value("证照编号"),
        "holder": value("持证主体"),
        "holder_code": _mask(value("持证主体代码")),
        "authority": value("证照颁发机构"),
        "issued": day("证照颁发日期"),
        "valid_until": day("证照有效期截止日期") or "长期",
    }


def _claimed(data: bytes) -> dict[str, str]:
    """The printed fields of a dropped JSON licence (bare, or wrapped with its receipt)."""
    try:
        obj = json.loads(data.decode("utf-8-sig"))
        if isinstance(obj, dict):
            for key in ("licence", "document"):
                if isinstance(obj.get(key), dict):
                    obj = obj[key]
        return (
            _printed(obj) if isinstance(obj, dict) and isinstance(obj.get("fields"), dict) else {}
        )
    except (UnicodeDecodeError, ValueError, AttributeError, TypeError):
        return {}


def _banner(row: dict[str, Any] | None) -> dict[str, str] | None:
    if row is None or row.get("status") in (None, "valid"):
        return None
    when = row.get("updated_at")
    day = when.date().isoformat() if isinstance(when, dt.datetime) else str(when or "")
    status = str(row["status"])
    return {
        "status": status,
        "zh": STATUS_ZH.get(status, status),
        "date": day,
        "reason": str(row.get("reason_text") or ""),
        "code": str(row.get("reason_code") or ""),
    }


def _context(svc: Any) -> Any:
    """The verifier's online context (seals, CA, receipts, anchor) when it is published."""
    try:
        from licence.trust import online_context
    except ImportError:
        from licence.verify import VerifyContext

        return VerifyContext(log_keys=[svc.ledger.verifier_key()], status_of=svc.store.licence)
    return online_context(svc)


def _receipt_of(svc: Any, lid: str) -> dict[str, Any] | None:
    row = svc.store.licence(lid)
    if row is None:
        return None
    if row["receipt"] is None and row["ledger_index"] is None:
        # the sequencer may have run since this licence was indexed: attach what is ready
        from licence.service import ledger_receipts

        svc.attach_receipts(ledger_receipts(svc.ledger))
    return svc.receipt(lid)  # type: ignore[no-any-return]


def _report(svc: Any, doc: dict[str, Any], receipt: dict[str, Any] | None) -> list[Line]:
    from ledger.receipt import Receipt, ReceiptError
    from licence.verify import verify

    try:
        parsed = Receipt.from_dict(receipt) if receipt else None
    except (ReceiptError, KeyError, TypeError, ValueError) as exc:
        return [
            Line("ledger_inclusion", FAILED, "RECEIPT_UNREADABLE", str(exc), "存证回执无法解析")
        ]
    report = verify(doc, parsed, _context(svc))
    return [Line(c.check, c.status, c.reason, c.en, c.zh) for c in report.checks]


def _verify_input(svc: Any, data: bytes) -> tuple[list[Line], str | None] | None:
    """The verifier's own entry point for any input (JSON, PDF, QR payload): its checks and the
    licence id it found; None while ``licence.verify.verify_input`` is not published."""
    from licence import verify as verifier

    entry = getattr(verifier, "verify_input", None)
    if entry is None:
        return None
    try:
        report = entry(data, _context(svc))
    except ImportError:  # a part of the verifier (e.g. PDF signatures) not installed here yet
        return None
    lines = [Line(c.check, c.status, c.reason, c.en, c.zh) for c in report.checks]
    return lines, getattr(report, "licence_id", None)


def _rewrapped(data: bytes) -> bytes:
    """``hub licence show`` prints ``{"document": …, "receipt": …}``; the verifier reads the
    same pair as ``{"licence": …, "receipt": …}``. Anything else is passed on untouched."""
    if not data.lstrip().startswith(b"{") or b'"document"' not in data:
        return data
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return data
    if not isinstance(obj, dict) or not isinstance(obj.get("document"), dict):
        return data
    pair = {"licence": obj["document"], "receipt": obj.get("receipt")}
    return json.dumps(pair, ensure_ascii=False).encode()


def _stored(svc: Any, lid: str | None) -> tuple[dict[str, str], dict[str, str] | None]:
    """What the platform issued under ``lid`` (as printed) and its status banner."""
    row = svc.store.licence(lid) if lid else None
    if row is None:
        return {}, None
    return _printed(svc.document(lid)), _banner(row)


def verify_file(svc: Any, data: bytes) -> Outcome:
    """Verify an uploaded sealed JSON licence (alone, or as ``hub licence show`` prints it) or a
    PDF."""
    found = _verify_input(svc, _rewrapped(data))
    if found is not None:
        lines, lid = found
        source = "PDF" if data.lstrip()[:5] == b"%PDF-" else "JSON"
        printed, banner = _stored(svc, lid)
        if source == "JSON" and lid:
            # show what the dropped file claims (a tampered copy differs from what was issued)
            printed = _claimed(data) or printed
        return Outcome(_verdict(lines), lines, source, printed, banner)
    if data.lstrip()[:5] == b"%PDF-":
        return _refused(
            "PDF",
            INDETERMINATE,
            "PDF_NOT_SUPPORTED_YET",
            "PDF verification is not available on this server yet: drop the sealed JSON "
            "licence or paste the QR payload",
            "暂不支持 PDF 核验，请上传 JSON 证照或粘贴二维码内容",
        )
    try:
        obj = json.loads(data.decode("utf-8-sig"))
        doc = obj["document"] if isinstance(obj, dict) and "document" in obj else obj
        lid = doc["header"]["licence_id"]
        if not isinstance(lid, str) or not isinstance(doc["fields"], dict):
            raise TypeError("licence_id and fields")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return _refused(
            "JSON",
            FAILED,
            "FORMAT_FAILURE",
            "the file is not a sealed licence (truncated, damaged or another kind of file)",
            "文件不是有效的电子证照（被截断、损坏或格式不符）",
        )
    receipt = obj.get("receipt") if "document" in obj else None
    try:
        lines = _report(svc, doc, receipt or _receipt_of(svc, lid))
    except (KeyError, TypeError, ValueError, AttributeError):
        return _refused(
            "JSON",
            FAILED,
            "FORMAT_FAILURE",
            "the licence is missing parts the checks need (header, fields or signature)",
            "电子证照缺少核验所需的内容（头部、字段或签章）",
        )
    return Outcome(_verdict(lines), lines, "JSON", _printed(doc), _banner(svc.store.licence(lid)))


def parse_qr(payload: str) -> tuple[str, str] | None:
    """(licence id, "alg:digest") from a QR payload ``…/verify?id=…&d=…``, or None."""
    text = payload.strip()
    query = urlsplit(text).query if "?" in text else text
    params = parse_qs(query)
    lid, digest = params.get("id", [""])[0], params.get("d", [""])[0]
    if not lid or ":" not in digest:
        return None
    return lid, digest


def verify_qr(svc: Any, payload: str) -> Outcome:
    """Look the licence up online by the QR payload; the payload's digest must match it."""
    text = payload.strip()
    if "?" not in text:
        text = "/verify?" + text  # the bare query part, as the page's own link carries it
    found = _verify_input(svc, text.encode()) if "\n" not in text else None
    if found is not None:
        lines, lid = found
        printed, banner = _stored(svc, lid)
        return Outcome(_verdict(lines), lines, "QR", printed, banner)
    parsed = parse_qr(payload)
    if parsed is None:
        return _refused(
            "QR",
            FAILED,
            "QR_UNREADABLE",
            "not a licence QR payload: paste the whole content (…/verify?id=…&d=…)",
            "不是电子证照二维码内容，请粘贴完整内容（…/verify?id=…&d=…）",
        )
    lid, digest = parsed
    row = svc.store.licence(lid)
    if row is None:
        return _refused(
            "QR",
            FAILED,
            "UNKNOWN_LICENCE",
            "no licence with this identifier was issued on this platform",
            "本平台未签发此证照",
        )
    doc = svc.document(lid)
    header = doc["header"]
    if digest != f"{header['digest_alg']}:{header['document_digest']}":
        qr_line = Line(
            "qr_payload",
            FAILED,
            "QR_DIGEST_MISMATCH",
            "the QR code's digest is not the issued licence's: the printed copy is not genuine",
            "二维码中的摘要与签发的证照不符",
        )
    else:
        qr_line = Line(
            "qr_payload", PASSED, "OK", "QR digest matches the issued licence", "二维码与证照一致"
        )
    lines = [qr_line, *_report(svc, doc, _receipt_of(svc, lid))]
    return Outcome(_verdict(lines), lines, "QR", _printed(doc), _banner(row))


def _page(request: Request, outcome: Outcome | None, qr: str = "") -> HTMLResponse:
    return web.render(
        request,
        "verify.html",
        {
            "outcome": outcome,
            "qr": qr,
            "check_zh": CHECK_ZH,
            "verdict_zh": VERDICT_ZH,
            "max_upload_mb": MAX_UPLOAD // (1024 * 1024),
        },
    )


@router.get("/verify", response_class=HTMLResponse)
def verify_page(
    request: Request,
    _session: web.SessionDep,
    id: str | None = None,
    d: str | None = None,
) -> HTMLResponse:
    """The form; opened from a scanned QR code (``?id=…&d=…``) it verifies straight away."""
    if id and d:
        payload = f"id={id}&d={d}"
        return _page(request, verify_qr(web.licence_service(request), payload), payload)
    return _page(request, None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(
    request: Request,
    _csrf: web.CsrfChecked,
    file: Annotated[UploadFile | None, File()] = None,
    qr: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Verify the dropped file, else the pasted QR payload."""
    from starlette.concurrency import run_in_threadpool

    svc = web.licence_service(request)
    data = await file.read(MAX_UPLOAD + 1) if file is not None and file.filename else b""
    if len(data) > MAX_UPLOAD:
        outcome = _refused(
            "file",
            FAILED,
            "FILE_TOO_LARGE",
            f"files over {MAX_UPLOAD // (1024 * 1024)} MiB are refused",
            f"文件超过 {MAX_UPLOAD // (1024 * 1024)} MiB",
        )
    elif data:
        outcome = await run_in_threadpool(verify_file, svc, data)
    elif qr.strip():
        outcome = await run_in_threadpool(verify_qr, svc, qr)
    else:
        outcome = None
    return _page(request, outcome, qr)
