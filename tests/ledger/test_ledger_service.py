"""The log service on SQLite: sequencing, receipts, proofs, anchoring, back-pressure, CAS, CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

import hub.settings
from hub.cli import main
from hub.settings import Settings
from ledger import merkle
from ledger.anchor import AnchorError
from ledger.embedded_anchor import EmbeddedAnchor
from ledger.log_reader import LedgerError
from ledger.merkle import MemoryTree, verify_consistency
from ledger.note import Checkpoint, Signer, sign_checkpoint
from ledger.receipt import Receipt, ReceiptError, verify_receipt
from ledger.service import LedgerService, QueueFullError
from storage import ledger_store as db


def test_batches_match_in_memory_tree_and_receipts_verify(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    tree = MemoryTree()
    previous: tuple[int, bytes] | None = None
    for batch in (1, 2, 5, 13, 64, 3):
        items = [f"entry {tree.size + i}".encode() for i in range(batch)]
        ids = svc.append_many(items)
        for item in items:
            tree.append(item)
        signed = svc.sequence()
        assert signed is not None and signed.anchor is not None
        assert signed.checkpoint.size == tree.size and signed.checkpoint.root == tree.root()
        assert svc.entry_index(ids[-1]) == tree.size - 1
        if previous is not None:
            proof = svc.consistency_proof(previous[0], tree.size)
            verify_consistency(previous[0], tree.size, previous[1], tree.root(), proof)
        previous = (tree.size, tree.root())
    for index in (0, 7, tree.size - 1):
        receipt = svc.receipt(index)
        assert receipt is not None and receipt.data == f"entry {index}".encode()
        again = Receipt.from_json(receipt.to_json())
        assert again == receipt
        assert receipt.anchor is not None and receipt.anchor.size == tree.size
        assert svc.anchor is not None
        svc.anchor.verify(receipt.anchor, receipt.checkpoint)
        assert verify_receipt(again, [svc.verifier_key()]).size == tree.size
    assert svc.root(5) == tree.root(5)
    assert svc.inclusion_proof(3, 20) == tree.inclusion_proof(3, 20)


def test_receipt_tampering_is_rejected(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    svc.append_many([b"a", b"b", b"c"])
    svc.sequence()
    receipt = svc.receipt(1)
    assert receipt is not None
    key = svc.verifier_key()
    tampered = [
        Receipt(receipt.index, receipt.leaf_hash, receipt.path, receipt.checkpoint, b"B"),
        Receipt(2, receipt.leaf_hash, receipt.path, receipt.checkpoint, receipt.data),
        Receipt(1, receipt.leaf_hash, receipt.path[:-1], receipt.checkpoint, receipt.data),
        Receipt(1, receipt.leaf_hash, receipt.path, receipt.checkpoint.replace(b"\n3\n", b"\n4\n")),
    ]
    for bad in tampered:
        with pytest.raises(ReceiptError):
            verify_receipt(bad, [key])
    other = Signer(
        "hub.example.gov.cn/log",
        Ed25519PrivateKey.generate(),
    )
    with pytest.raises(ReceiptError, match="trusted"):
        verify_receipt(receipt, [other.vkey()])


def test_not_yet_sequenced_has_no_receipt_and_key_persists(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    entry = svc.append(b"waiting")
    assert svc.entry_index(entry) is None and svc.receipt(0) is None
    assert LedgerService.open(settings).verifier_key() == svc.verifier_key()
    key_file = settings.keys_path / "ledger-log.key.pem"
    assert b"ENCRYPTED" in key_file.read_bytes()


def test_full_queue_pushes_back(settings: Settings) -> None:
    svc = LedgerService.open(settings.model_copy(update={"ledger_queue_limit": 5}))
    svc.append_many([b"x"] * 5)
    with pytest.raises(QueueFullError, match="queue full"):
        svc.append(b"one too many")
    svc.sequence()
    svc.append(b"room again")


def test_entries_an_earlier_version_queued_are_adopted_with_their_ids(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    first = svc.append_many([b"a", b"b"])
    svc.sequence()
    with svc.engine.begin() as conn:  # an earlier version queued entries in ledger_pending
        conn.execute(db.pending.insert(), [{"id": 7, "data": b"c"}, {"id": 8, "data": b"d"}])
    again = LedgerService.open(settings)
    assert again.entry_index(7) is None  # adopted into the queue, not yet signed
    later = again.append(b"e")
    signed = again.sequence()
    assert signed is not None and signed.checkpoint.size == 5
    with again.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.pending)).scalar_one() == 0
    tree = MemoryTree(merkle.leaf_hash(d) for d in (b"a", b"b", b"c", b"d", b"e"))
    assert signed.checkpoint.root == tree.root()
    assert [again.entry_index(e) for e in [*first, 7, 8, later]] == [0, 1, 2, 3, 4]
    assert later == 9


def test_sequencer_refuses_when_stored_tree_does_not_match_checkpoint(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    svc.append_many([bytes([i]) for i in range(16)])
    svc.sequence()
    with svc.engine.begin() as conn:  # an attacker rewrites a stored interior node
        changed = conn.execute(
            update(db.nodes)
            .where(db.nodes.c.key == db.node_key(db.NODE_LEVEL, 0))
            .values(hash=bytes(32))
        )
        assert changed.rowcount == 1
    svc.append(b"e")
    with pytest.raises(LedgerError, match="refusing to sign"):
        svc.sequence()


def test_sequencer_refuses_when_a_signed_leaf_was_rewritten(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    svc.append_many([bytes([i]) for i in range(5)])
    svc.sequence()
    with svc.engine.begin() as conn:  # below the stored levels, the leaves are the nodes
        conn.execute(update(db.entries).where(db.entries.c.idx == 4).values(data=b"rewritten"))
    svc.append(b"e")
    with pytest.raises(LedgerError, match="refusing to sign"):
        svc.sequence()


def test_embedded_anchor_refuses_forks_and_shrinking(settings: Settings) -> None:
    engine = db.make_engine(settings.db_url)
    db.create_tables(engine)
    anchor = EmbeddedAnchor(engine)
    signer = Signer(
        "o",
        Ed25519PrivateKey.generate(),
    )
    tree = MemoryTree(merkle.leaf_hash(bytes([i])) for i in range(10))
    fork = MemoryTree(merkle.leaf_hash(bytes([i + 100])) for i in range(10))

    def note(t: MemoryTree, n: int) -> bytes:
        return sign_checkpoint(Checkpoint("o", n, t.root(n)), signer)

    ref = anchor.anchor(note(tree, 4), 4, tree.root(4), [])
    anchor.verify(ref, note(tree, 4))
    ref8 = anchor.anchor(note(tree, 8), 8, tree.root(8), tree.consistency_proof(4, 8))
    assert anchor.latest() == (note(tree, 8), 8) and ref8.size == 8
    with pytest.raises(AnchorError, match="shrank"):
        anchor.anchor(note(tree, 6), 6, tree.root(6), [])
    with pytest.raises(AnchorError, match="not consistent"):
        anchor.anchor(note(fork, 10), 10, fork.root(10), fork.consistency_proof(8, 10))
    with pytest.raises(AnchorError, match="differs"):
        anchor.verify(ref, note(tree, 8))


def test_background_sequencer_and_sm3_log(settings: Settings) -> None:
    s = settings.model_copy(update={"crypto_profile": "national", "ledger_interval": 0.05})
    svc = LedgerService.open(s)
    svc.start()
    try:
        entry = svc.append(b"national profile")
        deadline = time.monotonic() + 10
        while svc.entry_index(entry) is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        svc.stop()
    receipt = svc.receipt(0)
    assert receipt is not None and receipt.hash_name == "sm3"
    assert receipt.leaf_hash == merkle.leaf_hash(b"national profile", "sm3")
    verify_receipt(receipt, [svc.verifier_key()])
    with pytest.raises(LedgerError, match="never changes hash"):
        LedgerService.open(settings)


def test_cli_end_to_end(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner().invoke
    assert run(main, ["ledger", "append", "hello"]).output == "1\n"
    lines = tmp_path / "lines.txt"
    lines.write_text("a\nb\n\nc")
    assert run(main, ["ledger", "append", "--lines", str(lines)]).output.split() == list("2345")
    out = run(main, ["ledger", "checkpoint"])
    assert out.exit_code == 0 and out.stdout.startswith(f"{settings.ledger_origin}\n5\n")
    assert out.stderr == "anchored on the embedded anchor: 1\n"  # the anchor's row id
    proof = json.loads(run(main, ["ledger", "prove", "2", "--json"]).output)
    tree = MemoryTree()
    for item in (b"hello", b"a", b"b", b"", b"c"):
        tree.append(item)
    assert proof["index"] == 2 and proof["size"] == 5 and proof["root"] == tree.root().hex()
    assert proof["path"] == [h.hex() for h in tree.inclusion_proof(2)]
    cons = json.loads(run(main, ["ledger", "consistency", "2", "5", "--json"]).output)
    assert cons["proof"] == [h.hex() for h in tree.consistency_proof(2, 5)]
    assert run(main, ["ledger", "root", "--size", "3"]).output.strip() == tree.root(3).hex()
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(proof["receipt"]))
    key = run(main, ["ledger", "key"]).output.strip()
    ok = run(main, ["ledger", "verify-receipt", str(receipt_file), "--key", key])
    assert ok.exit_code == 0 and "receipt OK" in ok.output
    proof["receipt"]["data"] = b"evil".hex()
    receipt_file.write_text(json.dumps(proof["receipt"]))
    bad = run(main, ["ledger", "verify-receipt", str(receipt_file), "--key", key])
    assert bad.exit_code != 0 and "INVALID" in bad.output
    missing = run(main, ["ledger", "prove", "9"])
    assert missing.exit_code != 0 and "out of range" in missing.output


def test_concurrent_appenders_get_distinct_ids(settings: Settings) -> None:
    import threading

    services = [LedgerService.open(settings) for _ in range(3)]
    got: list[int] = []
    lock = threading.Lock()

    def work(svc: LedgerService) -> None:
        for i in range(20):
            ids = svc.append_many([f"{id(svc)}-{i}".encode()] * 3)
            with lock:
                got.extend(ids)

    threads = [threading.Thread(target=work, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 180
    signed = services[0].sequence()
    assert signed is not None and signed.checkpoint.size == 180
    assert all(services[1].entry_index(i) is not None for i in got)


def test_losing_a_sequencing_race_is_logged_as_information(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hubs sequencing one log: the one that loses the race rolled back and retries next
    round, which is no failure (one INFO line, no traceback); a real failure is still an error."""
    import logging

    from ledger.service import ConcurrentSequencerError

    svc = LedgerService.open(settings.model_copy(update={"ledger_interval": 0.01}))
    rounds: list[Exception] = [
        ConcurrentSequencerError("another sequencer extended the log concurrently: UNIQUE"),
        LedgerError("the log is broken"),
    ]

    def sequence() -> None:
        if rounds:
            raise rounds.pop(0)
        svc._stop.set()

    monkeypatch.setattr(svc, "sequence", sequence)
    with caplog.at_level(logging.INFO, logger="ledger.service"):
        svc._loop()
    raced, failed = [r for r in caplog.records if r.name == "ledger.service"]
    assert raced.levelno == logging.INFO and raced.exc_info is None
    assert "another process" in raced.getMessage()
    assert failed.levelno == logging.ERROR and failed.exc_info is not None


def test_a_batch_of_many_statements_is_stored_whole_and_in_order(settings: Settings) -> None:
    svc = LedgerService.open(settings.model_copy(update={"ledger_queue_limit": 5_000}))
    items = [f"entry {i}".encode() for i in range(2 * (db.MAX_PARAMS // 2) + 7)]
    ids = svc.append_many(items)
    signed = svc.sequence()
    tree = MemoryTree(merkle.leaf_hashes(items))
    assert signed is not None and signed.checkpoint.root == tree.root()
    assert [svc.entry_index(e) for e in ids] == list(range(len(items)))
    for k in (0, db.MAX_PARAMS // 2 - 1, db.MAX_PARAMS // 2, len(items) - 1):
        receipt = svc.receipt(k)
        assert receipt is not None and receipt.data == items[k]
        verify_receipt(receipt, [svc.verifier_key()])
    with pytest.raises(ValueError, match="must have 2 values each"), svc.engine.begin() as conn:
        db.bulk_insert(conn, db.entries, ("idx", "data"), [(len(items), b"x", b"extra")])
    assert svc.size() == len(items)
