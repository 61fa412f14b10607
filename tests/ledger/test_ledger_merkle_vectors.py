"""The Merkle vectors under ``tests/vectors/merkle/``: every root, inclusion and consistency
case, each file asserting the exact error (or none). A new case is a new file, written by
``tests/vectors/merkle/make_merkle_vectors.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger import merkle
from ledger.merkle import ProofError, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"


def _cases(kind: str) -> list[str]:
    return sorted(p.stem for p in (VECTORS / kind).glob("*.json"))


def _load(kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads((VECTORS / kind / f"{name}.json").read_text(encoding="utf-8")))


def test_every_kind_has_its_cases() -> None:
    # a folder that went missing would otherwise parametrise to nothing and pass
    assert len(_cases("roots")) == 9
    assert len(_cases("inclusion")) >= 20 and len(_cases("consistency")) >= 20
    for kind in ("inclusion", "consistency"):
        names = _cases(kind)
        assert any(n.startswith("valid-") for n in names), kind
        assert any(n.startswith("modified-proof-") for n in names), kind


@pytest.mark.parametrize("name", _cases("roots"))
def test_root(name: str) -> None:
    case = _load("roots", name)
    leaves = [bytes.fromhex(x) for x in case["leaves"]]
    assert merkle.root(merkle.leaf_hashes(leaves)).hex() == case["root"]


@pytest.mark.parametrize("name", _cases("inclusion"))
def test_inclusion(name: str) -> None:
    case = _load("inclusion", name)
    args = (
        case["index"],
        case["size"],
        bytes.fromhex(case["leaf_hash"]),
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )
    if case["error"] is None:
        verify_inclusion(*args)
        return
    with pytest.raises(ProofError) as raised:
        verify_inclusion(*args)
    assert str(raised.value) == case["error"]


@pytest.mark.parametrize("name", _cases("consistency"))
def test_consistency(name: str) -> None:
    case = _load("consistency", name)
    args = (
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )
    if case["error"] is None:
        verify_consistency(*args)
        return
    with pytest.raises(ProofError) as raised:
        verify_consistency(*args)
    assert str(raised.value) == case["error"]
