"""Online verification: contexts over the running stores (a LicenceService and its ledger),
the licence's receipt as stored or read from the log, and the verdict of a licence file against
this platform's live stores (or a federation peer's latest bundle).

The online contexts of one ledger share a memo of pure results (checkpoint signatures,
certificate chains, inclusion proofs, cosignatures), keyed by the trust material they were
computed under; what can change (licence and seal status, status lists, anchors) is read per
context. Offline contexts and trust bundles are in :mod:`licence.trust`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledger.anchor import AnchorReference
from ledger.cosignature import CosignatureVerifier
from ledger.note import NoteError, Verifier, restrict_note
from ledger.receipt import Receipt, ReceiptError
from licence.seal_history import cert_hash, seal_events, seal_state
from licence.trust_anchors import TrustBundleError
from licence.verify import (
    DEFAULT_MAX_AGE_HOURS,
    INDETERMINATE,
    CheckResult,
    Report,
    SealState,
    VerifyContext,
)

# (anchor reference, checkpoint note) pairs an anchor backend confirmed in this process
_ANCHORED: set[tuple[Any, bytes]] = set()
# status lists' receipts per log by (list entry index, checkpoint size), for unwitnessed logs
_LIST_RECEIPTS: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], Receipt | None]] = (
    weakref.WeakKeyDictionary()
)


# per ledger: the memo of pure results (checkpoint signatures, certificate chains, inclusion
# proofs, cosignatures) online contexts share, by the trust material they were computed
# under (log keys, witness keys, platform CA certificates): a context that trusts anything
# else gets a memo of its own
_ONLINE_MEMO: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)
MEMO_LIMIT = 4096  # entries of the largest memo before a shared memo starts afresh


def _memo_size(caches: Any) -> int:
    return max(
        len(caches.certs),
        len(caches.chains),
        len(caches.checkpoints),
        len(caches.notes),
        len(caches.cosigned),
    )


def shared_memo(ledger: Any, trusted: tuple[Any, ...]) -> Any:
    """The memo online contexts of ``ledger`` that trust exactly ``trusted`` share (None the
    first time: the first such context's own memo is then kept, see :func:`online_context`)."""
    found = _ONLINE_MEMO.get(ledger, {}).get(trusted)
    if found is not None and _memo_size(found) >= MEMO_LIMIT:
        return None
    return found


def current_witnesses(engine: Any) -> list[str]:
    """The cosignature/v1 keys of the log's witnesses now, in name order (what
    ``WitnessPool.verifiers`` gives, read as one column)."""
    with engine.connect() as conn:
        return [witness_vkey(str(v)) for (v,) in conn.execute(_witness_keys())]


@functools.cache
def _witness_keys() -> Any:
    from sqlalchemy import select

    from storage import witness_store as tables

    return select(tables.peers.c.vkey).order_by(tables.peers.c.name)


@functools.lru_cache(maxsize=64)
def witness_vkey(stored: str) -> str:
    """A witness's key as stored, in canonical form (parsed once per distinct text)."""
    return CosignatureVerifier.from_vkey(stored).vkey()


@functools.lru_cache(maxsize=64)
def fingerprint(cert: Any) -> bytes:
    """SHA-256 of a certificate (memoised by the certificate, compared by its bytes)."""
    from cryptography.hazmat.primitives import hashes

    return bytes(cert.fingerprint(hashes.SHA256()))


def online_context(
    svc: Any,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    witness_quorum: int = 0,
    rows: Mapping[str, Mapping[str, Any]] | None = None,
) -> VerifyContext:
    """A context over a LicenceService and its ledger: status as of now, receipts attached;
    ``witness_quorum`` of the log's witnesses must have cosigned a receipt's checkpoint.
    ``rows``: licence index rows the caller has just read (a redemption's), used as the
    licences' status instead of reading them again.

    Pure results (a checkpoint's signatures, a certificate chain at a signing time, an
    inclusion proof) are shared by the online contexts of one ledger that trust the same log
    keys, witnesses and CA certificates, keyed by the exact bytes they were computed from;
    what can change (licence and seal status, status lists, anchors) is read per context."""
    from ledger.anchor import AnchorError, AnchorUnavailableError
    from ledger.log_reader import LedgerError
    from licence.errors import LicenceNotFoundError

    pca = svc.platform_ca()
    ledger = svc.ledger
    events_cache: dict[str, dict[str, list[tuple[str, dt.datetime]]]] = {}

    def seal_of(seal_id: str) -> SealState | None:
        row = svc.store.seal(seal_id)
        if row is None:
            return None
        if "all" not in events_cache:
            events_cache["all"] = seal_events(ledger)
        return seal_state(row, events_cache["all"].get(seal_id, []))

    def seal_for_cert(cert_sha256: str) -> SealState | None:
        for row in svc.store.seals():
            if cert_hash(str(row["cert_pem"])) == cert_sha256:
                return seal_of(str(row["seal_id"]))
        return None

    def receipt_of(lid: str) -> Receipt | None:
        obj = receipt_json(svc, lid)
        return None if obj is None else Receipt.from_dict(obj)

    def document_of(lid: str) -> dict[str, Any] | None:
        try:
            return dict(svc.document(lid))
        except LicenceNotFoundError:
            return None

    def root_at(size: int) -> bytes | None:
        try:
            return bytes(ledger.root(size))
        except LedgerError:
            return None

    def verify_anchor(ref: AnchorReference, note: bytes) -> None:
        anchor = ledger.anchor
        if anchor is None or ref.backend != anchor.name:
            raise ConnectionError(f"the {ref.backend} anchor backend is not reachable from here")
        try:
            # the anchor holds the note as the log signed it: compare that, so signatures a
            # witness (or anyone) added later are ignored, as the signed-note format says
            try:
                own = restrict_note(note, [Verifier.from_vkey(ledger.verifier_key())])
            except NoteError:
                own = note
            if (ref, own) in _ANCHORED:
                return  # an anchored checkpoint stays anchored: checked once per process
            anchor.verify(ref, own)  # the embedded table, or the Fabric chain read back
            if len(_ANCHORED) >= 1024:
                _ANCHORED.clear()
            _ANCHORED.add((ref, own))
        except AnchorUnavailableError as exc:
            raise ConnectionError(str(exc)) from exc
        except AnchorError as exc:
            raise LookupError(str(exc)) from exc

    witness_keys = [] if ledger.witnesses is None else current_witnesses(ledger.witnesses.engine)

    def status_list_of(authority: str) -> Receipt | None:
        found = svc.store.status_list_at(authority)
        if found is None:
            return None
        size, index = found
        if witness_keys:  # a witnessed note gains cosignatures: read it as it is now
            return ledger.receipt(index, size)
        # else the receipt under one checkpoint never changes
        known = _LIST_RECEIPTS.setdefault(ledger, {})
        if (index, size) not in known:
            if len(known) >= 256:
                known.clear()
            known[(index, size)] = ledger.receipt(index, size)
        return known[(index, size)]

    read: dict[str, dict[str, Any] | None] = {k: dict(v) for k, v in (rows or {}).items()}

    def status_of(lid: str) -> dict[str, Any] | None:
        # one read of the licence's row per verdict (two checks ask for it)
        if lid not in read:
            read[lid] = svc.store.licence(lid)
        return read[lid]

    log_keys = [ledger.verifier_key()]
    roots = [pca.root, pca.seal_ca]
    trusted = (tuple(log_keys), tuple(witness_keys), tuple(map(fingerprint, roots)))
    memo = shared_memo(ledger, trusted)
    extra: dict[str, Any] = {} if memo is None else {"caches": memo}
    ctx = VerifyContext(
        log_keys=log_keys,
        witnesses=witness_keys,
        witness_quorum=witness_quorum,
        status_of=status_of,
        status_list_of=status_list_of,
        today=today or dt.date.today(),
        trust_roots=roots,
        seal_of=seal_of,
        seal_for_cert=seal_for_cert,
        receipt_of=receipt_of,
        document_of=document_of,
        root_at=root_at,
        verify_anchor=verify_anchor,
        now=now,
        verification_url=svc.verification_url,
        **extra,
    )
    if memo is None:
        memos = _ONLINE_MEMO.setdefault(ledger, {})
        if len(memos) >= 16:  # trust material changed many times: forget the old memos
            memos.clear()
        memos[trusted] = ctx.caches
    return ctx


def receipt_json(svc: Any, lid: str, row: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The licence's receipt: the one the anchoring round attached, else read from the ledger
    if it has sequenced the entry since (not stored: readers only read; the next round attaches
    it). None if unknown or pending. ``row``: the licence's index row if just read."""
    from licence.receipts import ledger_receipts

    if row is None:
        row = svc.store.licence(lid)
    if row is None:
        return None
    if row["receipt"]:
        return dict(json.loads(row["receipt"]))
    if row["ledger_entry_id"] is None:
        return None
    entry = int(row["ledger_entry_id"])
    data = ledger_receipts(svc.ledger).many([entry]).get(entry)
    return None if data is None else dict(json.loads(data))


def licence_with_receipt(svc: Any, lid: str) -> dict[str, Any]:
    """A licence and its ledger receipt in one object: what offline verification takes."""
    doc = svc.document(lid)  # LicenceNotFoundError for an unknown identifier
    receipt = receipt_json(svc, lid)
    if receipt is None:
        raise ReceiptError(f"licence {lid} has no receipt yet: run `hub ledger checkpoint`")
    return {"licence": doc, "receipt": receipt}


def verify_seal_online(svc: Any, seal_id: str, ctx: VerifyContext) -> Any:
    """Verify a stored seal: certificate, status, validity, maker signature, picture."""
    from licence.verify import verify_seal

    row = svc.store.seal(seal_id)
    if row is None:
        return verify_seal(seal_id, None, None, ctx)
    state = ctx.seal_of(seal_id) if ctx.seal_of else None
    prefix = f"seals/{seal_id}"
    document = picture = None
    if svc.objects.exists(f"{prefix}/seal.json"):
        document = json.loads(svc.objects.get(f"{prefix}/seal.json"))
    if svc.objects.exists(f"{prefix}/picture.png"):
        picture = svc.objects.get(f"{prefix}/picture.png")
    return verify_seal(seal_id, state, str(row["cert_pem"]), ctx, document, picture)


def verify_online(
    svc: Any,
    data: bytes = b"",
    qr: str | None = None,
    peers_dir: Path | None = None,
    max_age: dt.timedelta = dt.timedelta(hours=DEFAULT_MAX_AGE_HOURS),
    ctx: VerifyContext | None = None,
    rows: Mapping[str, Mapping[str, Any]] | None = None,
) -> Report:
    """Verify a licence file (or a QR payload) against this platform's live stores, or, when
    the file is a federation peer's (its receipt names a peer's log, see
    :mod:`licence.peers`), against that peer's latest trust bundle in ``peers_dir``, the
    report naming the peer (check ``issuing_hub``).

    A platform that has no certificate authority yet can decide nothing: the report is
    INDETERMINATE (NO_PLATFORM_CA), never an error and never FAILED. ``ctx``: the online
    context to use for this hub's own licences (default :func:`online_context`, given
    ``rows``: licence index rows the caller has just read).
    """
    from licence.ca import CertificateAuthorityError
    from licence.verify import OFFLINE_POLICY, verify_input, verify_qr

    if qr is None and peers_dir is not None:
        from licence.peers import peer_context

        try:
            found = peer_context(peers_dir, data, max_age)
        except TrustBundleError as exc:
            return exc.report()
        if found is not None:
            from licence.peers import named

            peer, peer_ctx = found
            return named(verify_input(data, peer_ctx, OFFLINE_POLICY), peer)
    try:
        ctx = ctx or online_context(svc, rows=rows)
    except CertificateAuthorityError as exc:
        line = CheckResult(
            "trust_roots",
            INDETERMINATE,
            "NO_PLATFORM_CA",
            f"this platform has no certificate authority yet, nothing can be verified: {exc}",
            "本平台尚未建立证书机构，暂无法核验",
        )
        return Report(INDETERMINATE, [line])
    return verify_qr(qr, ctx) if qr is not None else verify_input(data, ctx)
