"""Pure core of a sealed licence: salted field digests, their Merkle root, disclosure, integrity.

A licence's content is a flat mapping of field name -> value (the GB/T 36903 metadata and the
type's own fields). Each field is committed to separately as
``H(JCS({"name": n, "salt": s, "value": v}))`` with a fresh 128-bit salt, so a holder can later hide
any field (keep only its digest) without breaking anything: the document digest is the RFC 9162
Merkle tree hash of the field digests in field-name order, and the seal signs the RFC 8785
canonical form of a small header that carries that root. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes

FORMAT = "egov-hub/licence/v1"

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (GB/T 32905), used under the national profile."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


HASHES: dict[str, HashFn] = {"sha256": sha256, "sm3": sm3}


class IntegrityError(ValueError):
    """The licence's field digests do not add up to the signed document digest."""


_MAX_SAFE_INT = 2**53


def _simple(obj: Any) -> bool:
    """True if ``json.dumps`` already yields JCS for ``obj``: no floats, integers within
    I-JSON range, and keys without astral characters (whose UTF-16 order differs)."""
    if isinstance(obj, str) or obj is None or isinstance(obj, bool):
        return True
    if isinstance(obj, int):
        return -_MAX_SAFE_INT < obj < _MAX_SAFE_INT
    if isinstance(obj, dict):
        return all(
            isinstance(k, str) and max(map(ord, k), default=0) < 0xD800 and _simple(v)
            for k, v in obj.items()
        )
    if isinstance(obj, list):
        return all(_simple(v) for v in obj)
    return False


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical bytes of a JSON value.

    Licence content is strings, small integers and nested objects; for those, Python's
    ``json.dumps`` with sorted keys, no ASCII escaping and no spaces produces exactly the JCS
    bytes (same string escapes, lowercase ``\\u00xx``), at a fraction of the cost of the
    general ``rfc8785`` encoder, which handles everything else (floats, astral keys).
    """
    if _simple(obj):
        return json.dumps(
            obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    return bytes(rfc8785.dumps(obj))


def field_digest(name: str, value: Any, salt: str, alg: str = "sha256") -> str:
    """Hex digest committing to one field (name, salt, value)."""
    return HASHES[alg](canonical({"name": name, "salt": salt, "value": value})).hex()


def merkle_root(leaves: Sequence[bytes], alg: str = "sha256") -> bytes:
    """RFC 9162 Merkle tree hash of ``leaves`` (leaf 0x00, node 0x01 prefixes)."""
    h = HASHES[alg]
    if not leaves:
        return h(b"")
    level = [h(b"\x00" + leaf) for leaf in leaves]

    def mth(nodes: list[bytes]) -> bytes:
        if len(nodes) == 1:
            return nodes[0]
        k = 1
        while k * 2 < len(nodes):
            k *= 2
        return h(b"\x01" + mth(nodes[:k]) + mth(nodes[k:]))

    return mth(level)


def commit_fields(
    values: Mapping[str, Any], alg: str = "sha256", salt: Callable[[], str] | None = None
) -> dict[str, dict[str, Any]]:
    """Salt every field: name -> {"value", "salt", "digest"}."""
    make_salt = salt or (lambda: secrets.token_hex(16))
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(values):
        s = make_salt()
        out[name] = {
            "value": values[name],
            "salt": s,
            "digest": field_digest(name, values[name], s, alg),
        }
    return out


def document_digest(fields: Mapping[str, Mapping[str, Any]], alg: str = "sha256") -> str:
    """The document digest: Merkle root over the field digests in field-name order."""
    leaves = [bytes.fromhex(str(fields[name]["digest"])) for name in sorted(fields)]
    return merkle_root(leaves, alg).hex()


def check_integrity(fields: Mapping[str, Mapping[str, Any]], root: str, alg: str) -> None:
    """Raise IntegrityError unless every disclosed field matches its digest and the root holds."""
    for name, entry in fields.items():
        if "value" in entry:
            again = field_digest(name, entry["value"], str(entry["salt"]), alg)
            if again != entry["digest"]:
                raise IntegrityError(f"field {name!r} was altered: its digest no longer matches")
    if document_digest(fields, alg) != root:
        raise IntegrityError("field digests do not add up to the signed document digest")


def signed_header(
    licence_id: str, root: str, alg: str, seal_id: str, signed_at: str
) -> dict[str, str]:
    """What the seal signs (as JCS bytes): identifier, digest algorithm, root, seal, time."""
    return {
        "format": FORMAT,
        "licence_id": licence_id,
        "digest_alg": alg,
        "document_digest": root,
        "seal_id": seal_id,
        "signed_at": signed_at,
    }


def disclose(document: Mapping[str, Any], hide: Sequence[str]) -> dict[str, Any]:
    """A copy of ``document`` with the named fields reduced to their digests.

    The signed header is unchanged, so the copy verifies against the same seal signature and
    ledger receipt; a hidden field cannot be recovered from its salted digest.
    """
    fields = document["fields"]
    unknown = sorted(set(hide) - set(fields))
    if unknown:
        raise KeyError(f"cannot hide unknown fields: {', '.join(unknown)}")
    redacted = {
        name: ({"digest": entry["digest"]} if name in hide else dict(entry))
        for name, entry in fields.items()
    }
    out = dict(document)
    out["fields"] = redacted
    out["disclosed"] = sorted(n for n, e in redacted.items() if "value" in e)
    return out


def values(document: Mapping[str, Any]) -> dict[str, Any]:
    """The disclosed field values of a licence document."""
    return {n: e["value"] for n, e in document["fields"].items() if "value" in e}
