"""Verification contexts: online (from the running stores) and offline (from a trust bundle).

A trust bundle is one JSON file exported by ``hub trust export``: the platform CA certificates,
the ledger's verifier keys, the latest signed checkpoint (sequenced at export time) with the
roots of every earlier checkpoint and the anchored ones, every seal with its status history, and
a status snapshot (licences no longer valid, as of the bundle's checkpoint) with each
authority's status list committed to the log under that checkpoint and its receipt (so the
``status_list`` check proves "not revoked as of N" from the log itself). With it and a
licence's receipt, a licence is verified with no database and no network; how old the bundle is
shows as the ``freshness`` check.

Offline trust starts from anchors the verifier already holds, never from the bundle: the log
key and platform CA of each hub it trusts (its own, and federation peers), installed once with
``hub trust install`` into the verifier's configuration (``licence.trust_anchors``). A bundle
that no installed (or ``--log-key`` pinned) key signed is refused with a reason code. Seals'
status histories come from the ledger (``licence.seal_history``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger import strict_json
from ledger.anchor import AnchorReference
from ledger.cosignature import CosignatureVerifier
from ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_note,
    restrict_note,
    sign_note,
)
from ledger.receipt import Receipt, ReceiptError
from licence.seal_history import aware, cert_hash, naive_iso, seal_events, seal_state
from licence.trust_anchors import TrustAnchor, TrustAnchors, TrustBundleError
from licence.verify import (
    DEFAULT_MAX_AGE_HOURS,
    INDETERMINATE,
    CheckResult,
    Report,
    SealState,
    VerifyContext,
    load_certificate,
)

BUNDLE_FORMAT = "egov-hub/trust-bundle/v1"


def anchor_from_bundle(bundle: Mapping[str, Any], log_keys: Sequence[str]) -> TrustAnchor:
    """A peer's anchor from its bundle, which must be signed by one of ``log_keys`` (obtained
    from the peer out of band: `hub ledger key` on its side): the CA certificates then come
    from a bundle that key vouches for."""
    if not log_keys:
        raise TrustBundleError(
            "installing from a bundle needs the hub's log key (--log-key), obtained from the "
            "hub itself: a bundle cannot vouch for its own key",
            "NO_TRUST_ANCHOR",
        )
    pinned = TrustAnchor(str(bundle.get("origin", "")), tuple(log_keys))
    check_bundle_signature(bundle, TrustAnchors((pinned,)))
    return TrustAnchor(
        origin=str(bundle.get("origin") or pinned.origin or _origin_of_key(log_keys[0])),
        log_keys=tuple(log_keys),
        ca_certificates=tuple(str(p) for p in bundle["ca_certificates"]),
        verification_url=str(bundle.get("verification_url") or "") or None,
    )


# (anchor reference, checkpoint note) pairs an anchor backend confirmed in this process
_ANCHORED: set[tuple[Any, bytes]] = set()
# status lists' receipts per log by (list entry index, checkpoint size), for unwitnessed logs
_LIST_RECEIPTS: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], Receipt | None]] = (
    weakref.WeakKeyDictionary()
)


def _origin_of_key(vkey: str) -> str:
    return vkey.split("+", 1)[0]


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


def export_bundle(
    svc: Any, now: dt.datetime | None = None, since: int | None = None
) -> dict[str, Any]:
    """The trust bundle as a JSON-ready dict; sequences the ledger first so the checkpoint is
    recent and every licence issued so far is covered by the status snapshot. ``since``: a
    peer's last seen tree size, for which the bundle carries the RFC 9162 consistency proof to
    its checkpoint (``consistency``: from, to, path)."""
    from sqlalchemy import select

    from licence.ca import pem
    from storage import ledger_store as db

    now = now or dt.datetime.now(dt.UTC)
    ledger = svc.ledger
    signed = ledger.sequence()
    if signed is None:
        raise TrustBundleError("the ledger is empty: nothing to export yet")
    pca = svc.platform_ca()
    with ledger.engine.connect() as conn:
        checkpoints = [
            {"size": int(r.size), "root": bytes(r.root).hex()}
            for r in conn.execute(select(db.checkpoints.c.size, db.checkpoints.c.root))
        ]
        anchors = [
            {
                "backend": "embedded",
                "id": str(r.id),
                "size": int(r.size),
                "root": bytes(r.root).hex(),
            }
            for r in conn.execute(select(db.anchors.c.id, db.anchors.c.size, db.anchors.c.root))
        ]
        # checkpoints a remote anchor (Fabric) witnessed, as the platform recorded them
        q = db.anchor_queue.c
        anchors += [
            {
                "backend": str(r.backend),
                "id": str(r.reference),
                "size": int(r.size),
                "root": bytes(r.root).hex(),
            }
            for r in conn.execute(
                select(q.backend, q.reference, q.size, db.checkpoints.c.root)
                .join(db.checkpoints, db.checkpoints.c.size == q.size)
                .where(q.reference.is_not(None))
            )
        ]
    events = seal_events(ledger)
    seals = []
    for row in svc.store.seals():
        state = seal_state(row, events.get(row["seal_id"], []))
        seals.append(
            {
                "seal_id": state.seal_id,
                "authority": state.authority,
                "status": state.status,
                "valid_from": state.valid_from.isoformat(),
                "valid_to": state.valid_to.isoformat(),
                "cert_sha256": list(state.cert_sha256),
                "certificate": row["cert_pem"],
                "events": [[s, t.isoformat()] for s, t in state.events],
            }
        )
    status: dict[str, Any] = {
        str(r["licence_id"]): {
            "status": r["status"],
            "reason_code": r["reason_code"],
            "reason_text": r["reason_text"],
            "updated_at": naive_iso(r["updated_at"]),
            "authority": r["authority"],
            "superseded_by": r["superseded_by"],
        }
        for r in svc.store.no_longer_valid()
    }
    # each authority's status list committed with the latest checkpoint, with its receipt:
    # offline, "not revoked as of checkpoint N" is then proven by the log, not only asserted
    from licence import authorities

    status_lists = {}
    for uscc_code in sorted(authorities.registry()):
        found = svc.store.status_list_at(uscc_code)
        receipt = None if found is None else ledger.receipt(found[1], signed.checkpoint.size)
        if receipt is not None:
            status_lists[uscc_code] = receipt.to_dict()
    bundle = {
        "format": BUNDLE_FORMAT,
        "exported_at": now.astimezone(dt.UTC).isoformat(),
        "origin": signed.checkpoint.origin,
        "verification_url": svc.verification_url,
        "log_keys": [ledger.verifier_key()],
        # the witnesses that cosign this log's checkpoints (C2SP cosignature/v1 keys)
        "witnesses": []
        if ledger.witnesses is None
        else [w.vkey() for w in ledger.witnesses.verifiers()],
        "ca_certificates": [pem(pca.root), pem(pca.seal_ca)],
        "checkpoint": signed.note.decode("utf-8"),
        "checkpoints": checkpoints,
        "anchors": anchors,
        "seals": seals,
        "status": {"size": signed.checkpoint.size, "licences": status},
        "status_lists": status_lists,
    }
    # signed by the log key, so a device that pins that key detects a doctored bundle
    bundle[SIGNATURE_KEY] = sign_note(_bundle_body(bundle), [ledger.signer]).decode()
    size = signed.checkpoint.size
    if since is not None and 0 < since <= size:
        path = ledger.consistency_proof(since, size) if since < size else []
        bundle[CONSISTENCY_KEY] = {"from": since, "to": size, "path": [h.hex() for h in path]}
    return bundle


SIGNATURE_KEY = "bundle_signature"
CONSISTENCY_KEY = "consistency"


def _bundle_body(bundle: Mapping[str, Any]) -> bytes:
    """The signed-note body committing to a bundle: its JCS digest."""
    from licence.document import canonical

    # the consistency proof a peer asked for is checked against the signed roots, not signed
    content = {k: v for k, v in bundle.items() if k not in (SIGNATURE_KEY, CONSISTENCY_KEY)}
    digest = hashlib.sha256(canonical(content)).hexdigest()
    return f"{BUNDLE_FORMAT}\nsha256:{digest}\n".encode()


def check_bundle_signature(
    bundle: Mapping[str, Any], anchors: TrustAnchors | Sequence[str]
) -> TrustAnchor:
    """The installed anchor whose log key signed ``bundle``; TrustBundleError (with its reason
    code) if none did, if it was changed after signing, or if it is unsigned. The keys the
    bundle lists itself are never trusted for this: a forger lists their own."""
    if not isinstance(anchors, TrustAnchors):
        anchors = TrustAnchors((TrustAnchor("pinned", tuple(anchors)),) if anchors else ())
    if not anchors.anchors:
        raise TrustBundleError(
            "this verifier has no trust anchor: install the hub's log key and CA once with "
            "`hub trust install` (or pin the key with --log-key)",
            "NO_TRUST_ANCHOR",
        )
    note = bundle.get(SIGNATURE_KEY)
    if not isinstance(note, str):
        raise TrustBundleError(
            "trust bundle is not signed: export it again with `hub trust export`",
            "BUNDLE_UNSIGNED",
        )
    for anchor in anchors.anchors:
        try:
            body = open_note(note.encode(), [Verifier.from_vkey(k) for k in anchor.log_keys])
        except NoteError:
            continue
        if body != _bundle_body(bundle):
            raise TrustBundleError("trust bundle was changed after it was signed", "BUNDLE_ALTERED")
        listed = bundle.get("log_keys")
        if not isinstance(listed, list) or not set(anchor.log_keys) & set(map(str, listed)):
            raise TrustBundleError(
                "trust bundle does not list the pinned log key", "BUNDLE_UNTRUSTED"
            )
        return anchor
    try:
        _body, sigs = parse_note(note.encode())
        names = ", ".join(sorted({s.name for s in sigs}))
    except NoteError:
        names = "an unreadable signature"
    trusted = ", ".join(a.origin for a in anchors.anchors)
    raise TrustBundleError(
        f"trust bundle is signed by {names}, not by a log key this verifier trusts "
        f"({trusted}): a forged or substituted bundle",
        "BUNDLE_UNTRUSTED",
    )


def load_bundle(data: bytes) -> dict[str, Any]:
    """Parse (strict I-JSON) and shape-check a trust bundle."""
    try:
        obj = strict_json.loads(data)
    except strict_json.StrictJSONError as exc:
        raise TrustBundleError(f"trust bundle cannot be read: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != BUNDLE_FORMAT:
        raise TrustBundleError(f"not a trust bundle (expected format {BUNDLE_FORMAT})")
    missing = [
        k
        for k in ("exported_at", "log_keys", "ca_certificates", "checkpoint", "seals", "status")
        if k not in obj
    ]
    if missing:
        raise TrustBundleError(f"trust bundle lacks {', '.join(missing)}")
    return obj


def offline_context(
    bundle: Mapping[str, Any],
    anchors: TrustAnchors | Sequence[str] = (),
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = dt.timedelta(hours=DEFAULT_MAX_AGE_HOURS),
    pinned_keys: Sequence[str] = (),
    witness_quorum: int = 0,
) -> VerifyContext:
    """A context from a trust bundle alone: no database, no network. The bundle must be signed
    by a log key of ``anchors`` (installed with `hub trust install`) or ``pinned_keys``
    (TrustBundleError otherwise, with its reason). Seal certificates chain to the anchor's
    pinned CA certificates when it has them (else to the ones the signed bundle carries); QR
    payloads may name the hosts of the anchors. ``witness_quorum`` of the witnesses the signed
    bundle names must have cosigned a receipt's checkpoint."""
    if not isinstance(anchors, TrustAnchors):
        anchors = TrustAnchors((TrustAnchor("pinned", tuple(anchors)),) if anchors else ())
    if pinned_keys:
        anchors = anchors.with_anchor(TrustAnchor("--log-key", tuple(pinned_keys)))
    anchor = check_bundle_signature(bundle, anchors)
    try:
        pems = anchor.ca_certificates or tuple(bundle["ca_certificates"])
        roots = [load_certificate(str(p)) for p in pems]
        checkpoint_roots = {
            strict_json.integer(c["size"], "checkpoint size", 2**63): bytes.fromhex(c["root"])
            for c in bundle["checkpoints"]
        }
        latest = Checkpoint.from_note_body(parse_note(str(bundle["checkpoint"]).encode())[0])
        checkpoint_roots.setdefault(latest.size, latest.root)
        anchors_seen = {
            (str(a.get("backend", "embedded")), str(a["id"])): (
                strict_json.integer(a["size"], "anchor size", 2**63),
                bytes.fromhex(a["root"]),
            )
            for a in bundle.get("anchors", [])
        }
        seals = {
            str(s["seal_id"]): SealState(
                seal_id=str(s["seal_id"]),
                authority=str(s["authority"]),
                status=str(s["status"]),
                valid_from=aware(s["valid_from"]),
                valid_to=aware(s["valid_to"]),
                cert_sha256=tuple(s["cert_sha256"]),
                events=tuple((str(st), aware(t)) for st, t in s["events"]),
            )
            for s in bundle["seals"]
        }
        by_cert = {h: seals[sid] for sid, st in seals.items() for h in st.cert_sha256}
        snapshot = dict(bundle["status"]["licences"])
        # absent from bundles exported before status lists: the status_list check then says
        # INDETERMINATE (export a new bundle)
        lists = {
            str(a): Receipt.from_dict(r) for a, r in dict(bundle.get("status_lists", {})).items()
        }
        status_size = strict_json.integer(bundle["status"]["size"], "status size", 2**63)
        as_of = aware(str(bundle["exported_at"]))
        log_keys = [str(k) for k in bundle["log_keys"]]
        for k in log_keys:
            Verifier.from_vkey(k)
        witnesses = [str(k) for k in bundle.get("witnesses", [])]  # older bundles: none
        for k in witnesses:
            CosignatureVerifier.from_vkey(k)
    except (KeyError, TypeError, ValueError, AttributeError, NoteError, ReceiptError) as exc:
        raise TrustBundleError(f"trust bundle is malformed: {exc}") from exc

    checked: set[tuple[str, str, int, bytes]] = set()

    def verify_anchor(ref: AnchorReference, note: bytes) -> None:
        # the bundle holds the anchors as the platform recorded them when it exported (the
        # embedded table's rows, Fabric's transactions): offline, that record is the witness
        if (ref.backend, ref.reference, ref.size, note) in checked:
            return
        if (ref.backend, ref.reference) not in anchors_seen:
            raise ConnectionError(
                f"the {ref.backend} anchor {ref.reference} is not in the trust bundle (anchored "
                "after it was exported?) and cannot be checked offline"
            )
        size, root = anchors_seen[(ref.backend, ref.reference)]
        try:
            cp = Checkpoint.from_note_body(parse_note(note)[0])
        except NoteError as exc:
            raise LookupError(str(exc)) from exc
        if (cp.size, cp.root) != (size, root) or ref.size != size:
            raise LookupError(f"anchor #{ref.reference} holds another checkpoint")
        checked.add((ref.backend, ref.reference, ref.size, note))

    url = str(bundle.get("verification_url", "https://hub.example.gov.cn/verify"))
    return VerifyContext(
        log_keys=log_keys,
        witnesses=witnesses,
        witness_quorum=witness_quorum,
        status_of=snapshot.get,
        today=today or dt.date.today(),
        trust_roots=roots,
        seal_of=seals.get,
        seal_for_cert=by_cert.get,
        root_at=checkpoint_roots.get,
        verify_anchor=verify_anchor,
        status_size=status_size,
        status_list_of=lists.get if "status_lists" in bundle else None,
        as_of=as_of,
        max_age=max_age,
        offline=True,
        now=now,
        verification_url=url,
        trusted_hosts=anchors.hosts(),
    )


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


def verify_seal_offline(bundle: Mapping[str, Any], seal_id: str, ctx: VerifyContext) -> Any:
    """Verify a seal from the trust bundle alone: certificate, status as of the bundle."""
    from licence.verify import verify_seal

    entry = next((s for s in bundle.get("seals", []) if s.get("seal_id") == seal_id), None)
    state = ctx.seal_of(seal_id) if ctx.seal_of else None
    cert = None if entry is None else entry.get("certificate")
    return verify_seal(seal_id, state, cert, ctx)


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
