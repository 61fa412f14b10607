"""``/verify``: staff at a service window drop a licence file or paste (or scan) its QR payload.

The page is open without signing in on purpose: the person at the window holds the licence
(the file, or the QR code whose payload carries the document digest), and the page shows only
the verdict, the checks and what is printed on the licence itself (the ID number masked).
The verdict is in large type: green TOTAL_PASSED, red TOTAL_FAILED naming the failing checks,
amber INDETERMINATE; a revoked or suspended licence shows its status, date and reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from api.pages import web
from licence.verify import china_time

MAX_UPLOAD = 10 * 1024 * 1024
FAILED = "FAILED"

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
    "pdf_seal": "PDF 印章",
    "ofd_package": "OFD 文件包",
    "ofd_integrity": "OFD 签章原文",
    "ofd_ses_signature": "OFD 电子签章",
    "ofd_seal_document": "OFD 印章数据",
    "ofd_seal_validity": "OFD 印章有效期",
    "ofd_seal_certificate": "OFD 签章证书",
    "ofd_signing_time": "OFD 签章时间",
    "ofd_licence": "OFD 与证照",
    "freshness": "数据时效",
    "trust_roots": "信任根",
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
    as_of: str = ""  # "截至… / as of …": when the verdict holds (in the large type)
    # a redeemed presentation (亮证码): every field, its value or that the holder hid it
    shown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[Line]:
        return [c for c in self.checks if c.status == FAILED]


def _refused(reason: str, en: str, zh: str) -> Outcome:
    """A file refused before verification (too large): TOTAL_FAILED with this one line."""
    return Outcome("TOTAL_FAILED", [Line("input", FAILED, reason, en, zh)], "file")


def _mask(identifier: str) -> str:
    """Resident ID numbers are shown as 340404********123X (the holder is in front of you)."""
    if len(identifier) == 18 and identifier[:17].isdigit():
        return identifier[:6] + "*" * 8 + identifier[14:]
    return identifier


def printed(doc: dict[str, Any]) -> dict[str, str]:
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
    """The printed fields of a dropped JSON licence, read by the verifier's own reader."""
    from ledger.strict_json import StrictJSONError
    from licence.verify import MalformedLicenceError, read_licence_json

    try:
        doc, _receipt = read_licence_json(data)
    except (StrictJSONError, MalformedLicenceError):
        return {}
    return printed(doc) if isinstance(doc.get("fields"), dict) else {}


def banner(row: dict[str, Any] | None) -> dict[str, str] | None:
    if row is None or row.get("status") in (None, "valid"):
        return None
    when = row.get("updated_at")
    day = china_time(when) if isinstance(when, dt.datetime) else str(when or "")
    status = str(row["status"])
    return {
        "status": status,
        "zh": STATUS_ZH.get(status, status),
        "date": day,
        "reason": str(row.get("reason_text") or ""),
        "code": str(row.get("reason_code") or ""),
    }


def _verified(svc: Any, data: bytes, config: Any = None) -> tuple[Any, list[Line], str | None]:
    """The verifier's report and checks for any input (JSON, PDF, QR payload), and the id of
    the licence it found (None when the input did not lead to one: e.g. a QR code that does
    not match, whose licence must then not be shown). With the app's ``config``, a federation
    peer's licence is checked with the peer's trust bundle (the report names the peer)."""
    import datetime as dt

    from licence.trust import verify_online

    if config is None:
        report = verify_online(svc, data)
    else:
        report = verify_online(
            svc,
            data,
            peers_dir=config.trust_dir,
            max_age=dt.timedelta(hours=config.verify_max_age_hours),
        )
    lines = [Line(c.check, c.status, c.reason, c.en, c.zh) for c in report.checks]
    lid = report.licence_id
    if any(c.check in ("qr_lookup", "qr_host") and c.status != "PASSED" for c in lines):
        lid = None
    return report, lines, lid


def _stored(svc: Any, lid: str | None) -> tuple[dict[str, str], dict[str, str] | None]:
    """What the platform issued under ``lid`` (as printed) and its status banner."""
    row = svc.store.licence(lid) if lid else None
    if row is None:
        return {}, None
    return printed(svc.document(lid)), banner(row)


def verify_file(svc: Any, data: bytes, config: Any = None) -> Outcome:
    """Verify a dropped file: a sealed or disclosed JSON licence (alone, with its receipt, or as
    ``hub licence show`` prints it), the licence's signed PDF or sealed OFD, an SD-JWT VC
    export, or a federation peer's licence (with ``config``, the app's, which names where peers
    are kept)."""
    report, lines, lid = _verified(svc, data, config)
    source = (
        "PDF" if data.lstrip()[:5] == b"%PDF-" else "OFD" if data[:4] == b"PK\x03\x04" else "JSON"
    )
    printed, banner = _stored(svc, lid)
    if source == "JSON" and lid:
        # show what the dropped file claims (a tampered copy differs from what was issued)
        printed = _claimed(data) or printed
    return Outcome(report.verdict, lines, source, printed, banner, _as_of(report))


def verify_qr(svc: Any, payload: str) -> Outcome:
    """Look the licence up online by its QR payload (``…/verify?id=…&d=alg:digest``)."""
    text = " ".join(payload.split())  # a scanner may add line breaks
    if "?" not in text:
        text = "/verify?" + text  # the bare query part, as the page's own link carries it
    report, lines, lid = _verified(svc, text.encode())
    printed, banner = _stored(svc, lid)
    return Outcome(report.verdict, lines, "QR", printed, banner, _as_of(report))


def _as_of(report: Any) -> str:
    when = report.as_of_text()
    return "" if when is None else f"{when[0]} · {when[1]}"


def page(
    request: Request, outcome: Outcome | None, qr: str = "", status_code: int = 200
) -> HTMLResponse:
    return web.render(
        request,
        "verify.html",
        {
            "outcome": outcome,
            "checked_at": china_time(dt.datetime.now(dt.UTC)),
            "qr": qr,
            "check_zh": CHECK_ZH,
            "verdict_zh": VERDICT_ZH,
            "max_upload_mb": MAX_UPLOAD // (1024 * 1024),
        },
        status_code=status_code,
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
        return page(request, verify_qr(web.licence_service(request), payload), payload)
    return page(request, None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(
    request: Request,
    _csrf: web.CsrfChecked,
    file: Annotated[UploadFile | None, File()] = None,
    qr: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Verify the dropped file, else the pasted QR payload."""
    from starlette.concurrency import run_in_threadpool

    from api.pages import me_redeem

    svc = web.licence_service(request)
    data = await file.read(MAX_UPLOAD + 1) if file is not None and file.filename else b""
    if len(data) > MAX_UPLOAD:
        outcome = _refused(
            "FILE_TOO_LARGE",
            f"files over {MAX_UPLOAD // (1024 * 1024)} MiB are refused",
            f"文件超过 {MAX_UPLOAD // (1024 * 1024)} MiB",
        )
    elif data:
        outcome = await run_in_threadpool(verify_file, svc, data, request.app.state.config)
    elif qr.strip() and me_redeem.is_presentation(qr):
        outcome, status = await me_redeem.redeem_outcome(request, qr)
        return page(request, outcome, "", status)
    elif qr.strip():
        outcome = await run_in_threadpool(verify_qr, svc, qr)
    else:
        outcome = None
    return page(request, outcome, qr)
