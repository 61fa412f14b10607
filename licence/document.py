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
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes

from ledger import merkle

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
# a JSON string exactly as JCS writes it: RFC 8785 §3.2.2.2 escapes ", \\, the five short
# control escapes and other code points below U+0020 as lowercase \\u00xx, everything else as
# is, which is what json.dumps(ensure_ascii=False) does (tests check it against rfc8785)
json_string = json.encoder.encode_basestring


def _simple(obj: Any) -> bool:
    """True if ``json.dumps`` already yields JCS for ``obj``: no floats, integers within
    I-JSON range, and keys without astral characters (whose UTF-16 order differs).

    A plain loop and ``map``, an ASCII key decided without looking at its characters: this
    walks every value a licence or claim receipt seals, and generator expressions cost
    several times the check itself."""
    if isinstance(obj, str) or obj is None or isinstance(obj, bool):
        return True
    if isinstance(obj, int):
        return -_MAX_SAFE_INT < obj < _MAX_SAFE_INT
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                return False
            if not k.isascii() and max(map(ord, k), default=0) >= 0xD800:
                return False
            if not _simple(v):
                return False
        return True
    if isinstance(obj, list):
        return all(map(_simple, obj))
    return False


def _flat(obj: dict[Any, Any]) -> bytes | None:
    """JCS of a flat object of ASCII keys and string or safe-integer values (a signed header, a
    log entry), written directly; None for any other object."""
    parts = []
    for k in sorted(obj) if all(type(k) is str and k.isascii() for k in obj) else ():
        v = obj[k]
        if type(v) is str:
            parts.append(f"{json_string(k)}:{json_string(v)}")
        elif type(v) is int and -_MAX_SAFE_INT < v < _MAX_SAFE_INT:
            parts.append(f"{json_string(k)}:{v}")
        else:
            return None
    if len(parts) != len(obj):
        return None
    return ("{" + ",".join(parts) + "}").encode()


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical bytes of a JSON value: the one encoder of signed and logged bytes.

    Licence content is strings, small integers and nested objects; for those, Python's
    ``json.dumps`` with sorted keys, no ASCII escaping and no spaces produces exactly the JCS
    bytes (same string escapes, lowercase ``\\u00xx``), and a flat object of ASCII keys is
    written directly, at a fraction of the cost of the general ``rfc8785`` encoder, which
    handles everything else (floats, astral keys). Tests compare all three with ``rfc8785``.
    """
    if type(obj) is dict:
        flat = _flat(obj)
        if flat is not None:
            return flat
    if _simple(obj):
        return json.dumps(
            obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    return bytes(rfc8785.dumps(obj))


def _json_value(value: Any) -> str:
    """JCS text of a field value (a string, the usual case, is one JSON string)."""
    return json_string(value) if type(value) is str else canonical(value).decode()


def _field_text(name_json: str, salt_json: str, value_json: str) -> str:
    # the three keys are fixed and already in JCS order: a template around the members' JCS
    return f'{{"name":{name_json},"salt":{salt_json},"value":{value_json}}}'


def field_bytes(name: str, salt: str, value: Any) -> bytes:
    """The committed bytes of one field: JCS of ``{"name": name, "salt": salt, "value": value}``."""
    return _field_text(json_string(name), json_string(salt), _json_value(value)).encode()


def field_hash(name: str, value: Any, salt: str, alg: str = "sha256") -> bytes:
    """The digest committing to one field (name, salt, value)."""
    if alg == "sha256":
        return hashlib.sha256(field_bytes(name, salt, value)).digest()
    return HASHES[alg](field_bytes(name, salt, value))


def field_digest(name: str, value: Any, salt: str, alg: str = "sha256") -> str:
    """Hex digest committing to one field (name, salt, value)."""
    return field_hash(name, value, salt, alg).hex()


def merkle_root(leaves: Sequence[bytes], alg: str = "sha256") -> bytes:
    """RFC 9162 Merkle tree hash of ``leaves`` (``ledger.merkle.data_root``, the one root)."""
    if alg not in HASHES:
        raise KeyError(alg)
    return merkle.data_root(leaves, alg)


def commit_fields(
    values: Mapping[str, Any], alg: str = "sha256", salt: Callable[[], str] | None = None
) -> dict[str, dict[str, Any]]:
    """Salt every field: name -> {"value", "salt", "digest"}."""
    return seal_fields(values, alg, salt)[0]


def seal_fields(
    values: Mapping[str, Any], alg: str = "sha256", salt: Callable[[], str] | None = None
) -> tuple[dict[str, dict[str, Any]], str, bytes]:
    """Salt and commit every field in one pass: (fields, document digest, the fields' JCS).

    Each field gets a fresh 128-bit salt (one read of the system CSPRNG per licence, not per
    field, unless ``salt`` is given); its digest is computed once and hashed straight into the
    Merkle tree; the fields' JCS bytes are written as they are made (the sealed licence's
    bytes are assembled from them without encoding the fields again)."""
    names = sorted(values)
    if salt is None:
        entropy = os.urandom(16 * len(names)).hex()
        salts = [entropy[32 * k : 32 * k + 32] for k in range(len(names))]
    else:
        salts = [salt() for _ in names]
    # JCS orders keys by UTF-16 code units, Python by code points: they agree below U+D800
    ordered = all(n.isascii() or max(map(ord, n), default=0) < 0xD800 for n in names)
    h = hashlib.sha256 if alg == "sha256" else None
    fields: dict[str, dict[str, Any]] = {}
    hashes: list[bytes] = []
    parts: list[str] = []
    for name, s in zip(names, salts, strict=True):
        value = values[name]
        jname, jsalt, jvalue = json_string(name), json_string(s), _json_value(value)
        data = _field_text(jname, jsalt, jvalue).encode()
        own = h(data).digest() if h is not None else HASHES[alg](data)
        hashes.append(own)
        digest = own.hex()
        fields[name] = {"value": value, "salt": s, "digest": digest}
        if ordered:
            parts.append(f'{jname}:{{"digest":"{digest}","salt":{jsalt},"value":{jvalue}}}')
    root = merkle_root(hashes, alg).hex()
    if not ordered:
        return fields, root, canonical(fields)
    return fields, root, ("{" + ",".join(parts) + "}").encode()


def sealed_bytes(fields_jcs: bytes, header_jcs: bytes, signature: Mapping[str, Any]) -> bytes:
    """JCS of a sealed licence ``{"fields", "header", "signature"}`` from its members' JCS (the
    keys are fixed and in JCS order), so what was just encoded is not encoded again."""
    return (
        b'{"fields":'
        + fields_jcs
        + b',"header":'
        + header_jcs
        + b',"signature":'
        + canonical(dict(signature))
        + b"}"
    )


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
