"""Hypothesis: every honest proof verifies; every single mutation of it is rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.merkle import MemoryTree, ProofError, verify_consistency, verify_inclusion

MAX = 600
TREE = MemoryTree(merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(MAX))


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX))
    return size, draw(st.integers(0, size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, MAX))
    return draw(st.integers(1, size2)), size2


def _flips(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i, h in enumerate(proof):
        for bit in (0, 7, 8 * len(h) - 1):
            b = bytearray(h)
            b[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(b), *proof[i + 1 :]])
    return out


@settings(max_examples=150, deadline=None)
@given(size_and_index())
def test_inclusion_verifies_and_mutations_are_rejected(si: tuple[int, int]) -> None:
    size, index = si
    leaf, root = TREE.node(0, index), TREE.root(size)
    proof = TREE.inclusion_proof(index, size)
    verify_inclusion(index, size, leaf, proof, root)
    bad: list[tuple[int, int, bytes, list[bytes], bytes]] = []
    bad += [(index, size, leaf, p, root) for p in _flips(proof)]
    if proof:
        bad.append((index, size, leaf, proof[:-1], root))
    bad.append((index, size, leaf, [*proof, proof[-1] if proof else leaf], root))
    bad.append((index, size, leaf, proof, TREE.root(size - 1) if size > 1 else merkle.empty_root()))
    bad.append((index, size, TREE.node(0, (index + 1) % MAX), proof, root))
    for i2 in (index - 1, index + 1):
        bad.append((i2, size, leaf, proof, root))
    for s2 in (size - 1, size + 1):  # an off-by-one size with that size's true root
        if 0 <= s2 <= MAX:
            bad.append((index, s2, leaf, proof, TREE.root(s2)))
    for args in bad:
        i2, s2 = args[0], args[1]
        if (
            0 <= i2 < s2 <= MAX
            and TREE.inclusion_proof(i2, s2) == args[3]
            and args[4] == TREE.root(s2)
            and args[2] == TREE.node(0, i2)
        ):
            continue  # the mutation happens to describe another honest proof
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@settings(max_examples=150, deadline=None)
@given(two_sizes())
def test_consistency_verifies_and_mutations_are_rejected(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    r1, r2 = TREE.root(size1), TREE.root(size2)
    proof = TREE.consistency_proof(size1, size2)
    verify_consistency(size1, size2, r1, r2, proof)
    bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = []
    bad += [(size1, size2, r1, r2, p) for p in _flips(proof)]
    if proof:
        bad.append((size1, size2, r1, r2, proof[:-1]))
        bad.append((size1, size2, r1, r2, proof[1:]))
    bad.append((size1, size2, r1, r2, [*proof, r1]))
    if size1 != size2:
        bad.append((size1, size2, r2, r1, proof))  # swapped roots
    bad.append((size2, size1, r2, r1, proof))
    for d1, d2 in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # off-by-one sizes with their true roots
        s1, s2 = size1 + d1, size2 + d2
        if 0 <= s1 <= MAX and 0 <= s2 <= MAX:
            bad.append((s1, s2, TREE.root(s1), TREE.root(s2), proof))
    for s1, s2, a, b, p in bad:
        honest = 0 < s1 <= s2 <= MAX and a == TREE.root(s1) and b == TREE.root(s2)
        if honest and p == TREE.consistency_proof(s1, s2):
            continue  # still honest
        with pytest.raises(ProofError):
            verify_consistency(s1, s2, a, b, p)
