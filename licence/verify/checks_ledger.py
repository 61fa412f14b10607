"""Checks of a licence's place in the ledger: the receipt's inclusion proof, the checkpoint it
is proven in (signed by a pinned log key, consistent with the log), and the checkpoint's anchor.

A checkpoint's signature is opened once per note bytes (the context's cache is keyed by the
exact bytes, so an altered note is opened, and refused, afresh).
"""

from __future__ import annotations

from typing import Any

from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Checkpoint, NoteError, open_checkpoint, parse_note
from ledger.receipt import Receipt, ReceiptError
from licence.status_list import StatusListError, issue_binding
from licence.verify.context import VerifyContext
from licence.verify.results import FAILED, INDETERMINATE, PASSED, CheckResult, result


def receipt_checkpoint(receipt: Receipt, ctx: VerifyContext) -> Checkpoint:
    """The (unverified) checkpoint a receipt is proven in; parsed once per note."""
    cp = ctx.caches.notes.get(receipt.checkpoint)
    if cp is None:
        body, _sigs = parse_note(receipt.checkpoint)
        cp = ctx.caches.notes[receipt.checkpoint] = Checkpoint.from_note_body(body)
    return cp


def proven_checkpoint(receipt: Receipt, ctx: VerifyContext) -> Checkpoint:
    """The receipt's checkpoint, once the receipt's entry data, leaf hash and inclusion proof
    hold under it; ReceiptError, ProofError, NoteError (or ValueError) saying which does not."""
    cp = receipt_checkpoint(receipt, ctx)
    if receipt.data is None:
        raise ReceiptError("receipt carries no entry data")
    if leaf_hash(receipt.data, receipt.hash_name) != receipt.leaf_hash:
        raise ReceiptError("entry data does not match its leaf hash")
    verify_inclusion(
        receipt.index, cp.size, receipt.leaf_hash, receipt.path, cp.root, receipt.hash_name
    )
    return cp


def check_ledger(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The receipt's entry is this licence's issue event, proven in the receipt's checkpoint."""
    name = "ledger_inclusion"
    if receipt is None:
        return result(
            name,
            INDETERMINATE,
            "NO_RECEIPT",
            "no ledger receipt yet (not yet sequenced, or not supplied)",
            "尚无上链存证回执",
        )
    try:
        cp = proven_checkpoint(receipt, ctx)
        ctx.caches.included.add(receipt)  # the status list check proves it under trusted keys
    except (ReceiptError, ProofError, NoteError, ValueError, KeyError) as exc:
        return result(
            name,
            FAILED,
            "PROOF_INVALID",
            f"the inclusion proof does not hold: {exc}",
            "存证证明无效（路径被伪造）",
        )
    assert receipt.data is not None  # proven_checkpoint checked it
    try:
        entry = issue_binding(receipt.data)
    except StatusListError:
        entry = None
    header = doc["header"]
    if entry is None or (entry.licence_id, entry.document_digest) != (
        header["licence_id"],
        header["document_digest"],
    ):
        return result(
            name,
            FAILED,
            "ENTRY_MISMATCH",
            "the ledger entry is for another document",
            "存证记录与证照不符",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"issue recorded at log index {receipt.index} (tree size {cp.size})",
        f"已上链存证（第{receipt.index}条）",
    )


def open_checkpoint_cached(note: bytes, ctx: VerifyContext) -> Checkpoint:
    hit = ctx.caches.checkpoints.get(note)
    if hit is None:
        try:
            hit = open_checkpoint(note, ctx.verifiers())
        except NoteError as exc:
            hit = exc
        ctx.caches.checkpoints[note] = hit
    if isinstance(hit, NoteError):
        raise hit
    return hit


def check_checkpoint(
    doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The receipt's checkpoint is signed by a trusted log key, agrees with the log, and is
    cosigned by as many of the log's known witnesses as the policy requires (the report names
    those that cosigned)."""
    checked = _check_checkpoint(doc, receipt, ctx)
    if checked.status != PASSED or receipt is None or not ctx.witnesses:
        return checked
    try:
        cosigned = ctx.cosigners(receipt.checkpoint)
    except NoteError as exc:
        return result(
            checked.check,
            FAILED,
            "COSIGNATURE_INVALID",
            f"a witness cosignature on the checkpoint was altered: {exc}",
            "检查点的见证联署签名无效（被篡改）",
        )
    names = ", ".join(c.name for c in cosigned) or "no known witness"
    if len(cosigned) < ctx.witness_quorum:
        return result(
            checked.check,
            INDETERMINATE,
            "NOT_WITNESSED",
            f"{checked.en}, but cosigned by {len(cosigned)} of {len(ctx.witnesses)} "
            f"known witnesses ({names}) where the policy requires {ctx.witness_quorum}: the "
            "log may show others another history",
            f"检查点见证联署不足（{len(cosigned)}/{ctx.witness_quorum}），无法排除账本分叉",
        )
    return result(
        checked.check,
        PASSED,
        checked.reason,
        f"{checked.en}; cosigned by {names}",
        f"{checked.zh}；见证联署：{len(cosigned)}个",
    )


def _check_checkpoint(
    _doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    name = "checkpoint"
    if receipt is None:
        return result(name, INDETERMINATE, "NO_RECEIPT", "no checkpoint to check", "无检查点可校验")
    if not ctx.log_keys:
        return result(
            name, INDETERMINATE, "NO_LOG_KEYS", "no trusted log keys", "缺少可信的账本公钥"
        )
    try:
        cp = open_checkpoint_cached(receipt.checkpoint, ctx)
    except NoteError as exc:
        untrusted = "not signed by any trusted key" in str(exc)
        return result(
            name,
            FAILED,
            "CHECKPOINT_UNTRUSTED_KEY" if untrusted else "CHECKPOINT_SIGNATURE_INVALID",
            f"checkpoint rejected: {exc}",
            "检查点非可信账本密钥签署" if untrusted else "检查点签名无效",
        )
    if ctx.root_at is None:
        return result(
            name,
            PASSED,
            "OK",
            f"signed by the log (size {cp.size}); consistency not checked",
            "检查点签名有效",
        )
    known = ctx.root_at(cp.size)
    if known is None:
        return result(
            name,
            INDETERMINATE,
            "CONSISTENCY_UNKNOWN",
            f"the log's root at size {cp.size} is not known here (newer than the trust bundle?)",
            "无法确认检查点与账本一致（信任包过旧）",
        )
    if known != cp.root:
        return result(
            name,
            FAILED,
            "CHECKPOINT_FORK",
            f"the log's root at size {cp.size} differs: a forked (inconsistent) checkpoint",
            "检查点与账本不一致（分叉）",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"signed by the log and consistent with it (size {cp.size})",
        "检查点签名有效且与账本一致",
    )


def check_anchor(_doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The receipt's checkpoint was anchored (embedded table or Fabric)."""
    name = "anchor"
    if receipt is None:
        return result(name, INDETERMINATE, "NO_RECEIPT", "no checkpoint to look up", "无检查点")
    ref = receipt.anchor
    if ref is None:
        return result(
            name,
            INDETERMINATE,
            "NOT_ANCHORED",
            "the receipt names no anchor for its checkpoint",
            "回执未记录锚定信息",
        )
    if ctx.verify_anchor is None:
        return result(
            name,
            INDETERMINATE,
            "ANCHOR_BACKEND_UNAVAILABLE",
            f"anchor backend {ref.backend} unavailable",
            "锚定后端不可用，无法核对",
        )
    try:
        ctx.verify_anchor(ref, receipt.checkpoint)
    except ConnectionError as exc:
        return result(
            name,
            INDETERMINATE,
            "ANCHOR_BACKEND_UNAVAILABLE",
            f"anchor backend {ref.backend} unavailable: {exc}",
            "锚定后端不可用，无法核对",
        )
    except (LookupError, ValueError) as exc:
        return result(
            name,
            FAILED,
            "ANCHOR_MISMATCH",
            f"the anchored checkpoint differs: {exc}",
            "锚定的检查点与回执不符",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"checkpoint anchored ({ref.backend} #{ref.reference})",
        "检查点已锚定",
    )
