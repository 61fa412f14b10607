"""Independent naive references for the licence encodings: what the standards say, written
the slow and obvious way, to test the one fast implementation against.

- field digest: SHA-256 of ``rfc8785.dumps({"name", "salt", "value"})`` (the rfc8785 package
  as the independent RFC 8785 encoder);
- document digest: RFC 9162 §2.1.1 MTH as the recursion over the largest power of two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785


def field_digest(name: str, value: Any, salt: str) -> str:
    return hashlib.sha256(rfc8785.dumps({"name": name, "salt": salt, "value": value})).hexdigest()


def mth(entries: Sequence[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()


def document_digest(fields: Mapping[str, Mapping[str, Any]]) -> str:
    return mth([bytes.fromhex(str(fields[n]["digest"])) for n in sorted(fields)]).hex()


def integrity_holds(fields: Mapping[str, Mapping[str, Any]], root: str) -> bool:
    """Every shown field matches its digest and the digests add up to ``root``."""
    try:
        for name, entry in fields.items():
            if (
                "value" in entry
                and field_digest(name, entry["value"], entry["salt"]) != (entry["digest"])
            ):
                return False
        return document_digest(fields) == root
    except (KeyError, TypeError, ValueError):
        return False
