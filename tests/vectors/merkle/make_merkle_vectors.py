"""Write the Merkle vectors under ``tests/vectors/merkle/``: one file per case, named after
what was done to an honest proof (as transparency-dev/merkle names its testdata).

Run ``.venv/bin/python tests/vectors/merkle/make_merkle_vectors.py`` from the repository root;
it replaces ``roots/``, ``inclusion/`` and ``consistency/``. Proofs and roots come from the
naive recursive reference (``tests/ledger/ledger_reference.py``), never from ``ledger.merkle``;
each expected error is written here by hand, and ``tests/ledger/test_ledger_merkle_vectors.py``
asserts it word for word.

- ``roots/size-N.json``: the RFC 6962 / transparency-dev test inputs and the root of the
  first N of them (the roots are the published ones; the reference must agree).
- ``inclusion/*.json``: ``index``, ``size``, ``leaf_hash``, ``proof``, ``root``, ``error``.
- ``consistency/*.json``: ``size1``, ``size2``, ``root1``, ``root2``, ``proof``, ``error``.

``error`` is null for a proof that must verify.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "ledger"))

from ledger_reference import NaiveTree  # noqa: E402

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
EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = [  # RFC 6962 / transparency-dev: the roots of the first 1..8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
TREE = NaiveTree(LEAVES)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.1 PATH read backwards, as recursion: the root a path leads to."""
    if n == 1:
        assert not path
        return leaf
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _h(b"\x01" + _root_from_path(m, k, leaf, path[:-1]) + path[-1])
    return _h(b"\x01" + path[-1] + _root_from_path(m - k, n - k, leaf, path[:-1]))


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def _leaf(i: int) -> bytes:
    return TREE.mth(i, i + 1)


def _inclusion(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes, error: str | None
) -> dict[str, Any]:
    return {
        "index": index,
        "size": size,
        "leaf_hash": leaf.hex(),
        "proof": [p.hex() for p in proof],
        "root": root.hex(),
        "error": error,
    }


def _leads(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> str:
    got = _root_from_path(index, size, leaf, proof)
    assert got != root
    return f"inclusion proof for leaf {index} in tree size {size} leads to root {got.hex()}, not {root.hex()}"


def inclusion_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for index, size in ((2, 7), (6, 7), (0, 1), (5, 8)):
        cases[f"valid-leaf-{index}-of-{size}"] = _inclusion(
            index, size, _leaf(index), TREE.path(index, 0, size), TREE.mth(0, size), None
        )
    index, size = 2, 7
    leaf, proof, root = _leaf(index), TREE.path(index, 0, size), TREE.mth(0, size)
    for i in range(len(proof)):
        for bit in (0, 3, 255):
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            cases[f"modified-proof-{i}-bit-{bit}"] = _inclusion(
                index, size, leaf, bad, root, _leads(index, size, leaf, bad, root)
            )
    bad_leaf = _flip(leaf, 3)
    cases["modified-leaf-bit-3"] = _inclusion(
        index, size, bad_leaf, proof, root, _leads(index, size, bad_leaf, proof, root)
    )
    bad_root = _flip(root, 3)
    cases["modified-root-bit-3"] = _inclusion(
        index, size, leaf, proof, bad_root, _leads(index, size, leaf, proof, bad_root)
    )
    cases["other-leaf"] = _inclusion(
        index, size, _leaf(3), proof, root, _leads(index, size, _leaf(3), proof, root)
    )
    cases["index-plus-one"] = _inclusion(
        3, size, leaf, proof, root, _leads(3, size, leaf, proof, root)
    )
    r6 = TREE.mth(0, 6)  # an off-by-one size with that size's true root
    cases["size-minus-one"] = _inclusion(
        index, 6, leaf, proof, r6, _leads(index, 6, leaf, proof, r6)
    )
    cases["truncated-proof"] = _inclusion(
        index,
        size,
        leaf,
        proof[:-1],
        root,
        "inclusion proof for leaf 2 in tree size 7 is too short (2)",
    )
    cases["extended-proof"] = _inclusion(
        index,
        size,
        leaf,
        [*proof, proof[-1]],
        root,
        "inclusion proof for leaf 2 in tree size 7 is too long (4)",
    )
    cases["short-leaf-hash"] = _inclusion(
        index, size, leaf[:31], proof, root, "leaf hash is 31 bytes, expected 32"
    )
    cases["short-proof-element-1"] = _inclusion(
        index,
        size,
        leaf,
        [proof[0], proof[1][:-1], proof[2]],
        root,
        "inclusion proof element 1 is not a 32-byte hash",
    )
    # the size and length rules, on an arbitrary hash (the inputs of the older inline test)
    x = _h(b"x")
    rules = {
        "empty-tree": (0, 0, 0, "leaf index 0 is out of range for tree size 0"),
        "index-equals-size": (5, 5, 3, "leaf index 5 is out of range for tree size 5"),
        "negative-index": (-1, 5, 3, "leaf index -1 is out of range for tree size 5"),
        "proof-too-short-for-size": (
            0,
            5,
            2,
            "inclusion proof for leaf 0 in tree size 5 is too short (2)",
        ),
        "proof-too-long-for-size": (
            0,
            5,
            4,
            "inclusion proof for leaf 0 in tree size 5 is too long (4)",
        ),
    }
    for name, (i, n, length, error) in rules.items():
        cases[name] = _inclusion(i, n, x, [x] * length, x, error)
    return cases


def _consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], error: str | None
) -> dict[str, Any]:
    return {
        "size1": size1,
        "size2": size2,
        "root1": root1.hex(),
        "root2": root2.hex(),
        "proof": [p.hex() for p in proof],
        "error": error,
    }


def consistency_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    r = [TREE.mth(0, n) for n in range(9)]

    def proof(m: int, n: int) -> list[bytes]:
        return TREE.subproof(m, 0, n, True) if m < n else []

    for m, n in ((1, 8), (3, 7), (4, 8), (6, 8), (8, 8), (1, 1)):
        cases[f"valid-{m}-to-{n}"] = _consistency(m, n, r[m], r[n], proof(m, n), None)
    # 3 -> 7: the proof is [MTH(D[2:3]), MTH(D[3:4]), MTH(D[0:2]), MTH(D[4:7])]; the first root
    # is rebuilt from elements 0 and 2, the second from all four, and the first is checked first
    p = proof(3, 7)
    assert p == [TREE.mth(2, 3), TREE.mth(3, 4), TREE.mth(0, 2), TREE.mth(4, 7)]
    which = {0: "first", 1: "second", 2: "first", 3: "second"}
    for i in range(len(p)):
        for bit in (0, 3, 255):
            bad = [*p[:i], _flip(p[i], bit), *p[i + 1 :]]
            cases[f"modified-proof-{i}-bit-{bit}"] = _consistency(
                3,
                7,
                r[3],
                r[7],
                bad,
                f"consistency proof from size 3 to 7: {which[i]} root mismatch",
            )
    cases["modified-root1-bit-3"] = _consistency(
        3, 7, _flip(r[3], 3), r[7], p, "consistency proof from size 3 to 7: first root mismatch"
    )
    cases["modified-root2-bit-3"] = _consistency(
        3, 7, r[3], _flip(r[7], 3), p, "consistency proof from size 3 to 7: second root mismatch"
    )
    cases["swapped-roots"] = _consistency(
        3, 7, r[7], r[3], p, "consistency proof from size 3 to 7: first root mismatch"
    )
    cases["truncated-proof"] = _consistency(
        3, 7, r[3], r[7], p[:-1], "consistency proof from size 3 to 7 is too short (3)"
    )
    cases["extended-proof"] = _consistency(
        3, 7, r[3], r[7], [*p, r[3]], "consistency proof from size 3 to 7 is too long (5)"
    )
    # 4 -> 8: a power-of-two first size; the proof is [MTH(D[4:8])], the first root is given
    cases["power-of-two-modified-proof-0-bit-3"] = _consistency(
        4,
        8,
        r[4],
        r[8],
        [_flip(TREE.mth(4, 8), 3)],
        "consistency proof from size 4 to 8: second root mismatch",
    )
    # the size and shape rules (the inputs of the older inline test)
    cases["first-size-zero"] = _consistency(
        0,
        8,
        bytes.fromhex(EMPTY_ROOT),
        r[8],
        [],
        "no consistency proof from size 0: the first size must be > 0",
    )
    cases["first-larger-than-second"] = _consistency(
        8,
        4,
        r[8],
        r[4],
        proof(4, 8),
        "first size 8 is larger than second size 4: the log shrank",
    )
    cases["empty-proof"] = _consistency(
        4, 8, r[4], r[8], [], "empty consistency proof from size 4 to 8"
    )
    cases["equal-sizes-non-empty-proof"] = _consistency(
        8, 8, r[8], r[8], [r[8]], "consistency proof between equal sizes 8 must be empty"
    )
    cases["equal-sizes-different-roots"] = _consistency(
        8, 8, r[8], r[4], [], "different roots for the same size 8: the log forked"
    )
    cases["short-proof-element-0"] = _consistency(
        4, 8, r[4], r[8], [b"short"], "consistency proof element 0 is not a 32-byte hash"
    )
    cases["short-root1"] = _consistency(
        4, 8, r[4][:31], r[8], proof(4, 8), "first root is 31 bytes, expected 32"
    )
    return cases


def _write(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    for kind in ("roots", "inclusion", "consistency"):
        shutil.rmtree(HERE / kind, ignore_errors=True)
        (HERE / kind).mkdir()
    assert TREE.mth(0, 0).hex() == EMPTY_ROOT
    _write(HERE / "roots" / "size-0.json", {"leaves": [], "root": EMPTY_ROOT})
    for n, want in enumerate(ROOTS, start=1):
        assert TREE.mth(0, n).hex() == want, n  # the reference agrees with the published roots
        _write(
            HERE / "roots" / f"size-{n}.json",
            {"leaves": [x.hex() for x in LEAVES[:n]], "root": want},
        )
    for kind, cases in (("inclusion", inclusion_cases()), ("consistency", consistency_cases())):
        for name, case in cases.items():
            _write(HERE / kind / f"{name}.json", case)


if __name__ == "__main__":
    main()
