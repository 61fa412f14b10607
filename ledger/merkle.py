"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and their verification.

Pure core, no I/O. Hashing follows RFC 9162 §2.1.1 (leaf = H(0x00 || data), node =
H(0x01 || left || right), empty root = H("")); SHA-256 by default, SM3 selectable per log.
Proofs are described first as *ranges* of leaves whose Merkle tree hash is a proof element, and
every range is the fold of at most log2(n) *perfect* subtrees (level, index). A store that keeps
perfect-subtree hashes can therefore answer any proof with O(log n) reads (``proof_nodes``).
Verification is RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, with every rejection rule.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

HASH_NAMES = ("sha256", "sm3")
Node = tuple[int, int]  # (level, index): the perfect subtree over leaves [index*2^level, ...)


class ProofError(ValueError):
    """A proof is malformed or does not verify; the message names the sizes and indices."""


class HashObject(Protocol):
    """What ``hash_constructor`` makes: a hashlib-like object of one message."""

    def digest(self) -> bytes: ...


class _SM3:
    """SM3 by ``cryptography`` (OpenSSL without SM3 in hashlib), as a hashlib-like object."""

    def __init__(self, data: bytes = b"") -> None:
        from cryptography.hazmat.primitives import hashes

        self._digest = hashes.Hash(hashes.SM3())
        self._digest.update(data)

    def digest(self) -> bytes:
        return self._digest.finalize()


def _constructor(hash_name: str) -> Callable[[bytes], HashObject]:
    if hash_name == "sha256":
        return hashlib.sha256
    if hash_name == "sm3":
        try:
            hashlib.new("sm3")
            return functools.partial(hashlib.new, "sm3")
        except ValueError:  # OpenSSL without SM3: fall back to cryptography's implementation
            return _SM3
    raise ValueError(f"unknown hash {hash_name!r}: use one of {', '.join(HASH_NAMES)}")


_CONSTRUCTORS: dict[str, Callable[[bytes], HashObject]] = {}


def hash_constructor(hash_name: str = "sha256") -> Callable[[bytes], HashObject]:
    """What makes a hash object (with ``digest()``) of ``hash_name`` from bytes: hashlib's own
    for SHA-256, so the loops below that hash many nodes call C with no Python frame between
    (cached)."""
    new = _CONSTRUCTORS.get(hash_name)
    if new is None:
        new = _CONSTRUCTORS[hash_name] = _constructor(hash_name)
    return new


def _hasher(hash_name: str) -> Callable[[bytes], bytes]:
    new = hash_constructor(hash_name)
    return lambda data: new(data).digest()


_HASHERS: dict[str, Callable[[bytes], bytes]] = {}


def hasher(hash_name: str = "sha256") -> Callable[[bytes], bytes]:
    """The raw hash function for ``hash_name`` (cached)."""
    fn = _HASHERS.get(hash_name)
    if fn is None:
        fn = _HASHERS[hash_name] = _hasher(hash_name)
    return fn


_SIZES: dict[str, int] = {}


def hash_size(hash_name: str = "sha256") -> int:
    """Digest length in bytes (32 for both SHA-256 and SM3; cached, as proofs ask per check)."""
    size = _SIZES.get(hash_name)
    if size is None:
        size = _SIZES[hash_name] = len(hasher(hash_name)(b""))
    return size


def empty_root(hash_name: str = "sha256") -> bytes:
    """The root of the empty tree: H of the empty string."""
    return hasher(hash_name)(b"")


def leaf_hash(data: bytes, hash_name: str = "sha256") -> bytes:
    """RFC 9162 leaf hash: H(0x00 || data)."""
    return hasher(hash_name)(b"\x00" + data)


def leaf_hashes(items: Iterable[bytes], hash_name: str = "sha256") -> list[bytes]:
    """``leaf_hash`` of many entries in one loop (the log hashes whole batches)."""
    h = hasher(hash_name)
    return [h(b"\x00" + data) for data in items]


def node_hash(left: bytes, right: bytes, hash_name: str = "sha256") -> bytes:
    """RFC 9162 interior node hash: H(0x01 || left || right)."""
    return hasher(hash_name)(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- proof shapes -------------------------------------------------------------------------


def range_nodes(begin: int, end: int) -> list[Node]:
    """Perfect subtrees, left to right, whose right fold is MTH(D[begin:end]).

    Valid for every range that occurs in RFC 9162's recursion (begin aligned to the range).
    """
    nodes: list[Node] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        while begin % (1 << level):
            level -= 1
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[size]), leaf-side first (RFC 9162 order)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for tree size {size}")
    out: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
    out.reverse()
    return out


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1)."""
    if not 0 < size1 <= size2:
        raise ProofError(
            f"no consistency proof from size {size1} to size {size2}: need 0 < old <= new"
        )
    if size1 == size2:
        return []
    top: list[tuple[int, int]] = []
    begin, end, m, complete = 0, size2, size1, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            top.append((begin + k, end))
            end = begin + k
        else:
            top.append((begin, begin + k))
            m -= k
            begin += k
            complete = False
    base = [] if complete else [(begin, end)]
    return base + top[::-1]


def proof_nodes(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    """Every distinct perfect subtree a proof needs (what a store must read)."""
    seen: dict[Node, None] = {}
    for begin, end in ranges:
        for node in range_nodes(begin, end):
            seen[node] = None
    return list(seen)


def fold(hashes: Sequence[bytes], hash_name: str = "sha256") -> bytes:
    """Right fold of perfect-subtree hashes (left to right) into one Merkle tree hash."""
    if not hashes:
        return empty_root(hash_name)
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc, hash_name)
    return acc


def assemble(
    ranges: Sequence[tuple[int, int]], nodes: Mapping[Node, bytes], hash_name: str = "sha256"
) -> list[bytes]:
    """Turn proof ranges into proof hashes, given the perfect-subtree hashes they need."""
    return [fold([nodes[n] for n in range_nodes(b, e)], hash_name) for b, e in ranges]


# --- in-memory trees ----------------------------------------------------------------------


class MemoryTree:
    """All perfect-subtree hashes of a tree kept in memory: O(1) node reads, O(1) appends."""

    def __init__(self, leaf_hashes: Iterable[bytes] = (), hash_name: str = "sha256") -> None:
        self.hash_name = hash_name
        self.levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Append an entry; returns its index."""
        return self.append_hash(leaf_hash(data, self.hash_name))

    def append_hash(self, h: bytes) -> int:
        index = len(self.levels[0])
        self.levels[0].append(h)
        level, i = 0, index
        while i & 1:
            row = self.levels[level]
            parent = node_hash(row[i - 1], row[i], self.hash_name)
            level += 1
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)
            i >>= 1
        return index

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def _nodes(self, ranges: Sequence[tuple[int, int]]) -> dict[Node, bytes]:
        return {n: self.node(*n) for n in proof_nodes(ranges)}

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is beyond the tree's {self.size} leaves")
        return fold([self.node(*n) for n in range_nodes(0, size)], self.hash_name)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond the tree's {self.size} leaves")
        ranges = inclusion_ranges(index, size)
        return assemble(ranges, self._nodes(ranges), self.hash_name)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else size2
        if size2 > self.size:
            raise ProofError(f"tree size {size2} is beyond the tree's {self.size} leaves")
        ranges = consistency_ranges(size1, size2)
        return assemble(ranges, self._nodes(ranges), self.hash_name)


def root(leaf_hashes: Sequence[bytes], hash_name: str = "sha256") -> bytes:
    """MTH (RFC 9162 §2.1.1) of the given leaf hashes, the one Merkle root of the code base.

    Bottom-up: adjacent nodes are paired level by level and an odd last node is carried up
    unchanged, which gives the recursive definition's root (the left subtree of each split is
    the largest power of two, so it is always perfect) without slicing or recursion.
    """
    if not leaf_hashes:
        return empty_root(hash_name)
    new = hash_constructor(hash_name)
    level = list(leaf_hashes)
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            new(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if odd is not None:
            level.append(odd)
    return level[0]


def data_root(entries: Iterable[bytes], hash_name: str = "sha256") -> bytes:
    """MTH of the given entries (each hashed as a leaf, H(0x00 || entry), first)."""
    new = hash_constructor(hash_name)
    return root([new(b"\x00" + e).digest() for e in entries], hash_name)


def inclusion_proof(
    index: int, leaf_hashes: Sequence[bytes], hash_name: str = "sha256"
) -> list[bytes]:
    """PATH(index, D[n]) for the tree of the given leaf hashes."""
    return MemoryTree(leaf_hashes, hash_name).inclusion_proof(index)


def consistency_proof(
    size1: int, leaf_hashes: Sequence[bytes], hash_name: str = "sha256"
) -> list[bytes]:
    """PROOF(size1, D[n]) for the tree of the given leaf hashes (n = len(leaf_hashes))."""
    return MemoryTree(leaf_hashes, hash_name).consistency_proof(size1)


class Frontier:
    """The right edge of a tree (its perfect decomposition): enough to append and get roots.

    A sequencer loads it once (O(log n) nodes), then appends leaves and collects the perfect
    subtrees each append completes, to be stored in the same transaction as the leaves.
    """

    def __init__(self, size: int, hashes: Sequence[bytes], hash_name: str = "sha256") -> None:
        nodes = range_nodes(0, size)
        if len(nodes) != len(hashes):
            raise ValueError(
                f"a tree of size {size} has {len(nodes)} frontier nodes, got {len(hashes)}"
            )
        self.size = size
        self.hash_name = hash_name
        self._stack: list[tuple[int, bytes]] = [
            (lv, h) for (lv, _), h in zip(nodes, hashes, strict=True)
        ]

    def extend(self, leaves: Sequence[bytes], lowest: int = 1) -> list[tuple[int, int, bytes]]:
        """Add leaf hashes; returns every perfect subtree they complete at level >= ``lowest``
        (level, index, hash), level by level (a store that keeps only the upper levels asks for
        those: the lower ones, 7/8 of all nodes below level 4, are hashed but not collected).

        Each level is hashed as one list of pairs (the frontier's node at that level, if any,
        is the left sibling of the first new node): a million leaves cost a million node
        hashes in tight loops, where one append per leaf with a stack of tuples took 3x as long.
        """
        h = hasher(self.hash_name)
        have = dict(self._stack)  # level -> hash of the frontier's perfect subtree there
        done: list[tuple[int, int, bytes]] = []
        stack: list[tuple[int, bytes]] = []
        # at each level, row[0] is the node of index ``first`` = old size >> level
        row, first, level = list(leaves), self.size, 0
        new_size = self.size + len(row)
        while row or have:
            if first & 1:  # the frontier holds the left sibling of row[0]
                row.insert(0, have.pop(level))
                first -= 1
            pairs = len(row) >> 1
            if len(row) & 1:
                stack.append((level, row[-1]))
            left, right = row[0 : 2 * pairs : 2], row[1 : 2 * pairs : 2]
            row = [h(b"\x01" + a + b) for a, b in zip(left, right, strict=True)]
            first >>= 1
            level += 1
            if level >= lowest:
                done.extend(
                    zip([level] * len(row), range(first, first + len(row)), row, strict=True)
                )
        stack.reverse()  # highest level first, as range_nodes(0, size) orders them
        self._stack = stack
        self.size = new_size
        return done

    def root(self) -> bytes:
        return fold([h for _, h in self._stack], self.hash_name)


# --- verification -------------------------------------------------------------------------


_BYTES = frozenset((bytes,))


def _check_hashes(proof: Sequence[bytes], size: int, what: str) -> None:
    if _BYTES.issuperset(map(type, proof)) and {size}.issuperset(map(len, proof)):
        return  # the usual case, tested at C speed; the loop below names the bad element
    for pos, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != size:
            raise ProofError(f"{what} element {pos} is not a {size}-byte hash")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], hash_name: str = "sha256"
) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4: the root implied by an inclusion proof."""
    if size <= 0 or not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for tree size {size}")
    hs = hash_size(hash_name)
    if len(leaf) != hs:
        raise ProofError(f"leaf hash is {len(leaf)} bytes, expected {hs}")
    _check_hashes(proof, hs, "inclusion proof")
    new = hash_constructor(hash_name)  # node_hash inlined: runs for every receipt verified
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} in tree size {size} is too long ({len(proof)})"
            )
        if fn & 1 or fn == sn:
            r = new(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = new(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} is too short ({len(proof)})"
        )
    return r


def verify_inclusion(
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
    hash_name: str = "sha256",
) -> None:
    """RFC 9162 §2.1.3.2; raises ProofError unless leaf ``index`` is in the tree of ``root``."""
    got = root_from_inclusion_proof(index, size, leaf_hash, proof, hash_name)
    if got != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} leads to root {got.hex()}, "
            f"not {root.hex()}"
        )


def verify_consistency(
    size1: int,
    size2: int,
    root1: bytes,
    root2: bytes,
    proof: Sequence[bytes],
    hash_name: str = "sha256",
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless tree ``size2`` extends tree ``size1``.

    Equal sizes need an empty proof and equal roots; size 0 is refused (RFC 9162 defines
    consistency proofs for 0 < first); first > second is refused.
    """
    if size1 <= 0:
        raise ProofError(f"no consistency proof from size {size1}: the first size must be > 0")
    if size1 > size2:
        raise ProofError(f"first size {size1} is larger than second size {size2}: the log shrank")
    hs = hash_size(hash_name)
    for name, h in (("first root", root1), ("second root", root2)):
        if len(h) != hs:
            raise ProofError(f"{name} is {len(h)} bytes, expected {hs}")
    _check_hashes(proof, hs, "consistency proof")
    if size1 == size2:
        if proof:
            raise ProofError(f"consistency proof between equal sizes {size1} must be empty")
        if root1 != root2:
            raise ProofError(f"different roots for the same size {size1}: the log forked")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from size {size1} to {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # exact power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from size {size1} to {size2} is too long ({len(proof)})"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr, hash_name)
            sr = node_hash(c, sr, hash_name)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c, hash_name)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof from size {size1} to {size2} is too short ({len(proof)})"
        )
    if fr != root1:
        raise ProofError(f"consistency proof from size {size1} to {size2}: first root mismatch")
    if sr != root2:
        raise ProofError(f"consistency proof from size {size1} to {size2}: second root mismatch")
