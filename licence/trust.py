"""Verification contexts: online (from the running stores, :mod:`licence.trust_online`) and
offline (from a trust bundle).

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
import hashlib
from collections.abc import Mapping, Sequence
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
    sign_note,
)
from ledger.receipt import Receipt, ReceiptError
from licence.seal_history import aware, naive_iso, seal_events, seal_state
from licence.trust_anchors import TrustAnchor, TrustAnchors, TrustBundleError
from licence.trust_online import (  # the online side, reached from here as before
    licence_with_receipt as licence_with_receipt,
)
from licence.trust_online import online_context as online_context
from licence.trust_online import receipt_json as receipt_json
from licence.trust_online import verify_online as verify_online
from licence.trust_online import verify_seal_online as verify_seal_online
from licence.verify import (
    DEFAULT_MAX_AGE_HOURS,
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


def _origin_of_key(vkey: str) -> str:
    return vkey.split("+", 1)[0]


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


def verify_seal_offline(bundle: Mapping[str, Any], seal_id: str, ctx: VerifyContext) -> Any:
    """Verify a seal from the trust bundle alone: certificate, status as of the bundle."""
    from licence.verify import verify_seal

    entry = next((s for s in bundle.get("seals", []) if s.get("seal_id") == seal_id), None)
    state = ctx.seal_of(seal_id) if ctx.seal_of else None
    cert = None if entry is None else entry.get("certificate")
    return verify_seal(seal_id, state, cert, ctx)
