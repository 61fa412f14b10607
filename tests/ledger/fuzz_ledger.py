"""Atheris fuzz target for note/checkpoint/receipt parsing and proof verification.

Run: ``.venv/bin/python tests/ledger/fuzz_ledger.py -runs=100000`` (libFuzzer flags apply;
``-atheris_runs=N`` bounds the run). Any exception other than the documented rejections
(NoteError, ProofError, ReceiptError) is a bug.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ledger import merkle
    from ledger.merkle import ProofError
    from ledger.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint, parse_note
    from ledger.receipt import Receipt, ReceiptError, verify_receipt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_SIGNER = Signer("fuzz.example/log", Ed25519PrivateKey.from_private_bytes(bytes(32)))
_VERIFIER: Verifier = _SIGNER.verifier()
_TREE = merkle.MemoryTree(merkle.leaf_hash(bytes([i])) for i in range(64))


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 4)
    if choice == 0:
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        try:
            body, _ = parse_note(raw)
            Checkpoint.from_note_body(body)
            open_checkpoint(raw, [_VERIFIER])
        except NoteError:
            pass
    elif choice in (1, 2):
        size = fdp.ConsumeIntInRange(0, 70)
        other = fdp.ConsumeIntInRange(0, 70)
        count = fdp.ConsumeIntInRange(0, 10)
        proof = [fdp.ConsumeBytes(32) for _ in range(count)]
        root = _TREE.root(min(size, 64))
        try:
            if choice == 1:
                leaf = _TREE.node(0, other % 64)
                merkle.verify_inclusion(other, size, leaf, proof, root)
            else:
                merkle.verify_consistency(other, size, _TREE.root(min(other, 64)), root, proof)
        except ProofError:
            pass
    elif choice == 3:
        # honest proofs with one fuzzed mutation must verify only if the mutation was a no-op
        size = fdp.ConsumeIntInRange(1, 64)
        index = fdp.ConsumeIntInRange(0, size - 1)
        proof = _TREE.inclusion_proof(index, size)
        if proof:
            pos = fdp.ConsumeIntInRange(0, len(proof) - 1)
            new = fdp.ConsumeBytes(32)
            mutated = [*proof[:pos], new, *proof[pos + 1 :]]
            try:
                merkle.verify_inclusion(
                    index, size, _TREE.node(0, index), mutated, _TREE.root(size)
                )
                assert new == proof[pos], "a mutated inclusion proof verified"
            except ProofError:
                pass
    else:
        try:
            receipt = Receipt.from_json(fdp.ConsumeBytes(fdp.remaining_bytes()))
            verify_receipt(receipt, [_VERIFIER])
        except (ReceiptError, NoteError):
            pass


def main(argv: list[str]) -> None:
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
