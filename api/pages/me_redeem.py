"""Redeeming a presentation (亮证码) at a service window: ``/p/<code>`` (what the holder's QR
code opens) and a code pasted or scanned into ``/verify``.

Opening ``/p/<code>`` does not spend the code (a link preview or a prefetch would): it shows the
``/verify`` form with the code filled in, and the clerk's "Verify" spends it. The page shows the
verdict on the disclosed copy and only the fields the holder chose; every redemption, refused
ones included, is audited under the holder's normalised ID (client ``staff:<name>`` when a
clerk is signed in, else ``anon@<address>``), so the holder sees it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import anonymous
from api.pages import verify, web
from api.routers.presentations import audit_row, holder_side, redeemed
from holder import presentations as core

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
WINDOW = "window"  # the audience of a code meant for any service window's /verify page
ROUTE = "/p/{code}"

REFUSED_ZH = {
    "already-used": "该亮证码已使用，请持证人重新生成",
    "expired": "该亮证码已过期，请持证人重新生成",
    "wrong-audience": "该亮证码指定了其他核验对象，本次未使用",
    "wrong-purpose": "该亮证码限定了其他用途，本次未使用",
    "unknown-code": "亮证码无效",
    "withdrawn": "持证人已撤回该亮证码",
}


def is_presentation(text: str) -> bool:
    """True when pasted or scanned text is a presentation code or its ``…/p/<code>`` link."""
    return core.normalise_code(text) is not None


@router.get("/p/{code}", response_class=HTMLResponse)
def open_code(request: Request, code: str, _session: web.SessionDep) -> HTMLResponse:
    """The /verify form with the code filled in; nothing is redeemed until the clerk submits."""
    canonical = core.normalise_code(code) or ""
    return verify.page(request, None, canonical)


async def redeem_outcome(request: Request, text: str) -> tuple[verify.Outcome, int]:
    """Redeem a pasted code for the /verify page: the outcome to show and the HTTP status."""
    side = holder_side(request)
    staff = web.signed_in(request)
    audiences = {WINDOW} | ({f"{WINDOW}:{staff.username}"} if staff else set())
    client = f"staff:{staff.username}"[:64] if staff else anonymous(request.scope)
    try:
        found = await run_in_threadpool(side.presentations.redeem, text, audiences=audiences)
    except core.PresentationError as exc:
        await audit_row(request, client, "-", ROUTE, exc.holder, (), exc.kind, exc.status)
        line = verify.Line(
            "presentation",
            verify.FAILED,
            exc.kind.upper().replace("-", "_"),
            exc.message,
            REFUSED_ZH.get(exc.kind, exc.message),
        )
        return verify.Outcome("TOTAL_FAILED", [line], "presentation"), exc.status
    state = request.app.state.hub
    await audit_row(request, client, "-", ROUTE, found.holder, found.disclosed, "redeemed", 200)
    answer = await run_in_threadpool(redeemed, state, found)
    lines = [verify.Line(c.check, c.status, c.reason, c.en, c.zh) for c in answer.checks]
    row = await run_in_threadpool(state.licences.store.licence, found.licence_id)
    outcome = verify.Outcome(
        answer.verdict,
        lines,
        "presentation",
        verify.printed(found.licence),
        verify.banner(dict(row) if row else None),
    )
    outcome.shown = _shown(found.licence)
    return outcome, 200


def _shown(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Every field of the disclosed licence: its value, or that it was hidden."""
    from schemas import licence_types

    fields = doc.get("fields") or {}
    type_code = str((fields.get("证照类型代码") or {}).get("value", ""))
    lt = licence_types.catalogue().get(type_code) if type_code else None
    names = {f.key: f.name for f in lt.fields} if lt else {}
    return [
        {
            "key": k,
            "label": names.get(k, k),
            "value": str(e["value"]) if "value" in e else "",
            "hidden": "value" not in e,
        }
        for k, e in sorted(fields.items())
    ]
