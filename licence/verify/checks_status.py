"""Checks of a licence's status: not revoked or suspended (as the platform states it, and as of
a checkpoint as the log proves it), within its validity period, and trust material fresh
enough to say so offline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.receipt import Receipt
from licence import authorities, status_list
from licence.verify.checks_ledger import open_checkpoint_cached
from licence.verify.context import VALIDITY_END, VALIDITY_START, VerifyContext, field_value
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    STATUS_ZH,
    CheckResult,
    as_utc,
    china_time,
    result,
    utc_time,
)


def check_status(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Not revoked, suspended, expired or superseded: the platform's answer (live online, the
    trust bundle's snapshot offline), backed by the log when a committed status list covers
    the licence (``check_status_list``): the log's word is added to the explanation, a list
    that contradicts a "valid" answer fails (STATUS_LIST_CONFLICT), and a list whose proof
    does not hold fails (STATUS_LIST_INVALID). Without a covering list, the answer is the
    platform's alone, as before."""
    stated = _status_stated(doc, receipt, ctx)
    if stated.status == INDETERMINATE or receipt is None or ctx.status_list_of is None:
        return stated
    proof = check_status_list(doc, receipt, ctx)
    if proof.status == INDETERMINATE:
        return stated
    name = "status"
    if proof.reason == "STATUS_LIST_INVALID":
        return result(name, FAILED, proof.reason, proof.en, proof.zh)
    if stated.status == PASSED and proof.status == FAILED:
        return result(
            name,
            FAILED,
            "STATUS_LIST_CONFLICT",
            f"the platform says valid, but the log says {proof.en}",
            f"平台显示有效，但{proof.zh}",
        )
    if stated.status == proof.status:  # the log agrees: say so
        return result(name, stated.status, stated.reason, f"{stated.en}; {proof.en}", stated.zh)
    return stated  # failed now, valid as of the list's checkpoint: the later answer stands


def _status_stated(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The status as the platform (or the trust bundle's snapshot) states it."""
    name = "status"
    lid = str(doc["header"]["licence_id"])
    if ctx.status_of is None:
        return result(
            name, INDETERMINATE, "STATUS_UNKNOWN", "status not available", "无法获取证照状态"
        )
    row = ctx.status_of(lid)
    as_of, valid_zh = "", "证照状态有效"
    if ctx.as_of is not None:
        as_of = f" as of the trust bundle's checkpoint ({utc_time(ctx.as_of)})"
        valid_zh = f"截至信任包检查点时间（{china_time(ctx.as_of)}）证照状态有效"
    if row is None:
        if ctx.status_size is not None and receipt is None:
            return result(
                name,
                INDETERMINATE,
                "STATUS_UNKNOWN",
                "without a receipt the licence cannot be placed before the bundle's snapshot",
                "无存证回执，无法依据信任包确认状态",
            )
        if ctx.status_size is not None and receipt is not None and receipt.index >= ctx.status_size:
            return result(
                name,
                INDETERMINATE,
                "STATUS_NEWER_THAN_BUNDLE",
                "issued after the status snapshot of the trust bundle",
                "证照晚于信任包状态快照，无法确认状态",
            )
        if ctx.status_size is not None:
            # a snapshot lists only licences that are no longer valid
            return result(name, PASSED, "OK", f"licence is valid{as_of}", valid_zh)
        if ctx.offline:
            return result(
                name,
                INDETERMINATE,
                "STATUS_UNKNOWN",
                "the trust bundle carries no status for this licence: verify it online",
                "信任包中没有此证照的状态，请联网核验",
            )
        return result(
            name,
            FAILED,
            "UNKNOWN_LICENCE",
            "the platform has no licence with this identifier",
            "平台无此证照",
        )
    status = str(row["status"])
    if status == "valid":
        return result(name, PASSED, "OK", f"licence is valid{as_of}", valid_zh)
    when = row.get("updated_at")
    if isinstance(when, str) and when:
        day = when[:10]
    elif isinstance(when, dt.datetime | dt.date):
        day = when.isoformat()[:10]
    else:
        day = ""
    text = str(row.get("reason_text") or "")
    code = str(row.get("reason_code") or "")
    authority = str(row.get("authority") or "")
    zh_label = STATUS_ZH.get(status, status)
    superseded = row.get("superseded_by")
    extra = f"; replaced by {superseded}" if superseded else ""
    return result(
        name,
        FAILED,
        status.upper(),
        f"{status} on {day} by {authority}: {text} ({code}){extra}",
        f"{zh_label}（{day}，{text}）" + _by_authority_zh(authority),
    )


def check_status_list(
    doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """Not revoked or suspended as of a checkpoint, proven by the log: the licence's issue
    entry binds its status index, and its authority's status list committed with checkpoint N
    has that bit clear; both entries are proven under checkpoints signed by a trusted key."""
    name = "status_list"
    if receipt is None or receipt.data is None:
        return result(
            name,
            INDETERMINATE,
            "NO_RECEIPT",
            "no ledger receipt: the licence cannot be placed in a status snapshot",
            "无存证回执，无法依据状态列表确认状态",
        )
    if ctx.status_list_of is None or not ctx.log_keys:
        return result(
            name,
            INDETERMINATE,
            "STATUS_LIST_UNAVAILABLE",
            "no committed status list available here (old trust bundle?)",
            "无法获取已上链的状态列表",
        )
    header = doc["header"]
    lid, digest = str(header["licence_id"]), str(header["document_digest"])
    try:
        authority = status_list.issue_binding(receipt.data).authority
    except status_list.StatusListError as exc:
        return result(name, FAILED, "STATUS_LIST_INVALID", str(exc), "状态列表证明无效")
    listed = ctx.status_list_of(authority)
    if listed is None:
        return result(
            name,
            INDETERMINATE,
            "NO_STATUS_LIST",
            f"no status list of {authority} committed yet (the next checkpoint commits one)",
            "发证机关状态列表尚未上链",
        )
    row = ctx.status_of(lid) if ctx.status_of is not None else None
    fallback = row.get("status_index") if row is not None else None
    try:
        proven = status_list.prove_status(
            lid,
            digest,
            receipt,
            listed,
            ctx.verifiers(),
            fallback if isinstance(fallback, int) else None,
            # the checkpoints are the ones check_checkpoint opened: open each note once
            open_note=lambda note: open_checkpoint_cached(note, ctx),
            included=ctx.caches.included,
        )
    except (status_list.SnapshotTooOldError, status_list.StatusIndexUnknownError) as exc:
        return result(
            name, INDETERMINATE, "STATUS_LIST_NOT_COVERING", str(exc), "状态列表未覆盖此证照"
        )
    except status_list.StatusListError as exc:
        return result(
            name,
            FAILED,
            "STATUS_LIST_INVALID",
            f"the status list proof does not hold: {exc}",
            "状态列表证明无效",
        )
    n, at = proven.checkpoint_size, proven.list_index
    where = f"as of checkpoint {n} (status list at log index {at}, bit {proven.status_index})"
    if proven.status == "revoked":
        return result(
            name,
            FAILED,
            "REVOKED_AS_OF_CHECKPOINT",
            f"revoked, expired or superseded {where}",
            f"截至检查点{n}已吊销或失效（上链状态列表）",
        )
    if proven.status == "suspended":
        if row is not None and row.get("status") == "valid":
            # online: suspended at N, reinstated since (that entry is not yet in a checkpoint)
            return result(
                name,
                PASSED,
                "SUSPENSION_LIFTED",
                f"suspended {where}, reinstated since",
                f"截至检查点{n}处于暂扣状态，其后已恢复",
            )
        return result(
            name,
            FAILED,
            "SUSPENDED_AS_OF_CHECKPOINT",
            f"suspended {where}",
            f"截至检查点{n}已暂扣（上链状态列表）",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"not revoked or suspended {where}, proven by the log",
        f"截至检查点{n}未被吊销或暂扣（上链状态列表证明）",
    )


def _by_authority_zh(uscc_code: str) -> str:
    """``，决定机关：<name>`` for a registered authority (empty if unknown)."""
    try:
        return f"，决定机关：{authorities.get(uscc_code).name}" if uscc_code else ""
    except authorities.AuthorityError:
        return f"，决定机关：{uscc_code}"


def _ymd(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def check_validity(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Today lies within the licence's validity period."""
    name = "validity_period"
    fields = doc["fields"]
    if VALIDITY_END in fields and "value" not in fields[VALIDITY_END]:
        return result(
            name,
            INDETERMINATE,
            "VALIDITY_HIDDEN",
            "the holder hid the end of validity",
            "持证人隐藏了有效期",
        )
    start = field_value(doc, VALIDITY_START)
    if start and _ymd(str(start)) > ctx.today:
        return result(
            name,
            FAILED,
            "NOT_YET_VALID",
            f"valid only from {_ymd(str(start))}",
            "证照尚未生效",
        )
    end = field_value(doc, VALIDITY_END)
    if not end or end == "长期":
        return result(name, PASSED, "OK", "long-term validity", "长期有效")
    end_date = _ymd(str(end))
    if end_date < ctx.today:
        return result(
            name, FAILED, "EXPIRED", f"expired on {end_date}", f"已过有效期（{end_date}）"
        )
    return result(name, PASSED, "OK", f"valid until {end_date}", f"有效期至{end_date}")


def check_freshness(_doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """How old the trust material is (offline): older than ``max_age`` is INDETERMINATE."""
    name = "freshness"
    if ctx.as_of is None:
        if ctx.offline:
            return result(
                name,
                INDETERMINATE,
                "BUNDLE_TIME_UNKNOWN",
                "the trust bundle does not say when it was made",
                "信任包未注明时间",
            )
        return result(name, PASSED, "ONLINE", "online: status as of now", "在线核验，状态为实时")
    age = ctx.current_time() - as_utc(ctx.as_of)
    hours = age.total_seconds() / 3600
    limit = ctx.max_age.total_seconds() / 3600
    text = f"trust bundle checkpoint is {hours:.1f} h old (exported {utc_time(ctx.as_of)})"
    zh = f"信任包检查点已过{hours:.1f}小时（导出于{china_time(ctx.as_of)}）"
    if age > ctx.max_age:
        return result(
            name,
            INDETERMINATE,
            "BUNDLE_STALE",
            text + f", older than this verifier's limit of {limit:g} h: refresh it",
            zh + f"，超过本机时效上限{limit:g}小时，请更新信任包",
        )
    return result(name, PASSED, "OK", text, zh)
