"""Merkle core against the standards' vectors and a naive recursive reference (sizes 0..300)."""

from __future__ import annotations

import hashlib

import pytest
from ledger_reference import NaiveTree

from ledger import merkle
from ledger.merkle import MemoryTree, ProofError, verify_consistency, verify_inclusion

# RFC 6962 / transparency-dev test inputs and the roots of their first 1..8 leaves
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_standards_vectors() -> None:
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.root([merkle.leaf_hash(b"")]) == merkle.leaf_hash(b"")


def test_rfc6962_roots() -> None:
    hashes = [merkle.leaf_hash(x) for x in LEAVES]
    for n, want in enumerate(ROOTS, start=1):
        assert merkle.root(hashes[:n]).hex() == want


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


@pytest.mark.parametrize(
    ("index", "size", "proof_len", "fragment"),
    [
        (0, 0, 0, "out of range"),
        (5, 5, 3, "out of range"),
        (-1, 5, 3, "out of range"),
        (0, 5, 2, "too short"),
        (0, 5, 4, "too long"),
    ],
)
def test_inclusion_rejection_rules(index: int, size: int, proof_len: int, fragment: str) -> None:
    h = hashlib.sha256(b"x").digest()
    with pytest.raises(ProofError, match=fragment):
        verify_inclusion(index, size, h, [h] * proof_len, h)


def test_consistency_rejection_rules() -> None:
    tree = MemoryTree([merkle.leaf_hash(x) for x in LEAVES])
    r4, r8 = tree.root(4), tree.root(8)
    with pytest.raises(ProofError, match="first size must be > 0"):
        verify_consistency(0, 8, merkle.empty_root(), r8, [])
    with pytest.raises(ProofError, match="larger than second"):
        verify_consistency(8, 4, r8, r4, tree.consistency_proof(4))
    with pytest.raises(ProofError, match="empty consistency proof"):
        verify_consistency(4, 8, r4, r8, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(8, 8, r8, r8, [r8])
    with pytest.raises(ProofError, match="forked"):
        verify_consistency(8, 8, r8, r4, [])
    with pytest.raises(ProofError, match="hash"):
        verify_consistency(4, 8, r4, r8, [b"short"])
    verify_consistency(8, 8, r8, r8, [])
