"""Merkle core against the standards' vectors and a naive recursive reference (sizes 0..300)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_reference import NaiveTree

from ledger import merkle
from ledger.merkle import MemoryTree, ProofError, verify_consistency, verify_inclusion

# the RFC 6962 / transparency-dev test inputs; their roots, and the inclusion and consistency
# cases, are files under tests/vectors/merkle/ (test_ledger_merkle_vectors.py walks them)
_SIZE_8 = Path(__file__).resolve().parents[1] / "vectors" / "merkle" / "roots" / "size-8.json"
LEAVES = [bytes.fromhex(x) for x in json.loads(_SIZE_8.read_text(encoding="utf-8"))["leaves"]]


def test_standards_vectors() -> None:
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.root([merkle.leaf_hash(b"")]) == merkle.leaf_hash(b"")


def test_sm3_is_selectable_and_differs() -> None:
    # GB/T 32905 vector: SM3("abc")
    assert merkle.hasher("sm3")(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    tree = MemoryTree(hash_name="sm3")
    for x in LEAVES:
        tree.append(x)
    assert tree.root() != merkle.root([merkle.leaf_hash(x) for x in LEAVES])
    verify_inclusion(
        3, 8, merkle.leaf_hash(LEAVES[3], "sm3"), tree.inclusion_proof(3), tree.root(), "sm3"
    )
    with pytest.raises(ProofError):
        verify_inclusion(3, 8, merkle.leaf_hash(LEAVES[3]), tree.inclusion_proof(3), tree.root())


def test_fast_matches_naive_reference_for_sizes_0_to_300() -> None:
    entries = [i.to_bytes(2, "big") * (i % 3) for i in range(300)]
    naive = NaiveTree(entries)
    tree = MemoryTree()
    frontier = merkle.Frontier(0, [])
    assert tree.root() == naive.mth(0, 0) == frontier.root()
    for n in range(1, 301):
        tree.append(entries[n - 1])
        completed = frontier.extend([merkle.leaf_hash(entries[n - 1])])
        for level, idx, h in completed:  # every node the sequencer stores is the right one
            assert h == tree.node(level, idx) == naive.mth(idx << level, (idx + 1) << level)
        root = naive.mth(0, n)
        assert tree.root() == frontier.root() == root
        for m in range(n):
            path = tree.inclusion_proof(m)
            assert path == naive.path(m, 0, n)
            verify_inclusion(m, n, merkle.leaf_hash(entries[m]), path, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m)
            assert proof == (naive.subproof(m, 0, n, True) if m < n else [])
            verify_consistency(m, n, naive.mth(0, m), root, proof)


@pytest.mark.parametrize("start", [0, 1, 2, 3, 5, 8, 13, 64, 127])
def test_frontier_extends_by_whole_batches_like_the_naive_tree(start: int) -> None:
    entries = [i.to_bytes(2, "big") for i in range(start + 70)]
    naive = NaiveTree(entries)
    tree = MemoryTree(merkle.leaf_hashes(entries[:start]))
    frontier = merkle.Frontier(start, [tree.node(*n) for n in merkle.range_nodes(0, start)])
    size = start
    for batch in (1, 2, 7, 16, 0, 44):
        leaves = merkle.leaf_hashes(entries[size : size + batch])
        completed = frontier.extend(leaves)
        expected = {(lv, i) for lv in range(1, 9) for i in range(size + batch >> lv)}
        expected -= {(lv, i) for lv in range(1, 9) for i in range(size >> lv)}
        assert {(lv, i) for lv, i, _ in completed} == expected
        for level, idx, h in completed:
            assert h == naive.mth(idx << level, (idx + 1) << level)
        size += batch
        assert frontier.size == size and frontier.root() == naive.mth(0, size)


def test_frontier_collects_only_the_levels_a_store_keeps() -> None:
    leaves = merkle.leaf_hashes(i.to_bytes(2, "big") for i in range(150))
    every, upper = merkle.Frontier(0, []), merkle.Frontier(0, [])
    stored = 0
    for lo, hi in ((0, 5), (5, 37), (37, 150)):
        completed = every.extend(leaves[lo:hi])
        kept = upper.extend(leaves[lo:hi], lowest=4)
        assert kept == [n for n in completed if n[0] >= 4]
        assert upper.root() == every.root() == merkle.root(leaves[:hi])
        stored += len(kept)
    assert stored == 150 // 16 + 150 // 32 + 150 // 64 + 150 // 128
