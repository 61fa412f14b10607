"""Pure core of a sealed licence: salted field digests, their Merkle root, disclosure, integrity.

A licence's content is a flat mapping of field name -> value (the GB/T 36903 metadata and the
type's own fields). Each field is committed to separately as
``H(JCS({"name": n, "salt": s, "value": v}))`` with a fresh 128-bit salt, so a holder can later hide
any field (keep only its digest) without breaking anything: the document digest is the RFC 9162
Merkle tree hash of the field digests in field-name order, and the seal signs the RFC 8785
canonical form of a small header that carries that root. Nothing here does I/O.
"""

from __future__ import annotations

import functools
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


# flat objects repeat a handful of key sets (signed headers, log entries, signatures): the
# sorted keys of each, with their JSON text, are worked out once per key set. The key is the
# tuple of the object's own keys in their order, so an object with any other key (or order)
# never meets another's plan; bounded, as canonical also encodes what strangers send.
_FLAT_PLANS: dict[tuple[Any, ...], tuple[tuple[str, str], ...] | None] = {}
_FLAT_PLANS_MAX = 512


def _flat_plan(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...] | None:
    """(key, its JSON text and a colon) in JCS order for ASCII string keys; None otherwise."""
    try:
        return _FLAT_PLANS[keys]
    except KeyError:
        pass
    plan = None
    if all(type(k) is str and k.isascii() for k in keys):
        plan = tuple((k, json_string(k) + ":") for k in sorted(keys))
    if len(_FLAT_PLANS) < _FLAT_PLANS_MAX:
        _FLAT_PLANS[keys] = plan
    return plan


def _flat(obj: dict[Any, Any]) -> bytes | None:
    """JCS of a flat object of ASCII keys and string or safe-integer values (a signed header, a
    log entry), written directly; None for any other object."""
    plan = _flat_plan(tuple(obj))
    if plan is None:
        return None
    parts = []
    for k, jk in plan:
        v = obj[k]
        if type(v) is str:
            parts.append(jk + json_string(v))
        elif type(v) is int and -_MAX_SAFE_INT < v < _MAX_SAFE_INT:
            parts.append(jk + str(v))
        else:
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


def recompute_fields(
    fields: Mapping[str, Mapping[str, Any]], alg: str = "sha256"
) -> tuple[dict[str, bytes], int, str | None]:
    """Every field's digest in one pass, as a verifier needs them: a shown field's recomputed
    from its name, salt and value (the bytes ``field_bytes`` commits to), a hidden field's read
    from the digest it states. Returns (digests by name, how many fields are hidden, the first
    shown field whose recomputed digest differs from the one it states, else None); the pass
    ends at that field. Fields are taken in their given order; a malformed entry raises as
    ``field_hash`` would (KeyError, TypeError, ValueError)."""
    sha = hashlib.sha256 if alg == "sha256" else None
    fn = HASHES[alg]
    out: dict[str, bytes] = {}
    hidden = 0
    for name, entry in fields.items():
        if "value" not in entry:
            hidden += 1
            out[name] = bytes.fromhex(entry["digest"])
            continue
        value = entry["value"]
        text = _field_text(
            json_string(name),
            json_string(str(entry["salt"])),
            json_string(value) if type(value) is str else _json_value(value),
        ).encode()
        own = fn(text) if sha is None else sha(text).digest()
        if own.hex() != entry["digest"]:
            return out, hidden, name
        out[name] = own
    return out, hidden, None


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


class Entropy:
    """Fresh bytes of the system CSPRNG, read in blocks and each byte handed out once: the salts
    of a whole batch of licences cost a few reads, not one per licence. Not shared between
    threads (one per batch being sealed)."""

    def __init__(self, block: int = 1 << 16) -> None:
        self._block = block
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        """``n`` bytes never handed out before."""
        if self._pos + n > len(self._buf):
            self._buf = os.urandom(max(n, self._block))
            self._pos = 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out


@functools.lru_cache(maxsize=256)
def _names_plan(keys: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(the field names in order, their JSON text, whether that order is JCS's) of a content's
    keys; keyed by the keys themselves, so any other set of names gets a plan of its own."""
    names = tuple(sorted(keys))
    # JCS orders keys by UTF-16 code units, Python by code points: they agree below U+D800
    ordered = all(max(map(ord, n), default=0) < 0xD800 for n in names)
    return names, tuple(json_string(n) for n in names), ordered


def seal_fields(
    values: Mapping[str, Any],
    alg: str = "sha256",
    salt: Callable[[], str] | None = None,
    entropy: Entropy | None = None,
) -> tuple[dict[str, dict[str, Any]], str, bytes]:
    """Salt and commit every field in one pass: (fields, document digest, the fields' JCS).

    Each field gets a fresh 128-bit salt (from ``entropy`` when given, else one read of the
    system CSPRNG per licence; ``salt`` overrides both); its digest is computed once and
    hashed straight into the Merkle tree; the fields' JCS bytes are written as they are made
    (the sealed licence's bytes are assembled from them without encoding the fields again)."""
    names, jnames, ordered = _names_plan(tuple(values))
    n = len(names)
    if salt is None:
        hexed = (entropy.take(16 * n) if entropy is not None else os.urandom(16 * n)).hex()
        salts = [hexed[i : i + 32] for i in range(0, 32 * n, 32)]
        jsalts = [f'"{s}"' for s in salts]  # hex digits are their own JSON text
    else:
        salts = [salt() for _ in names]
        jsalts = [json_string(s) for s in salts]
    vals = [values[name] for name in names]
    jvalues = [json_string(v) if type(v) is str else _json_value(v) for v in vals]
    texts = [_field_text(a, b, c).encode() for a, b, c in zip(jnames, jsalts, jvalues, strict=True)]
    if alg == "sha256":
        sha = hashlib.sha256
        hashes = [sha(t).digest() for t in texts]
    else:
        hashes = list(map(HASHES[alg], texts))
    digests = [h.hex() for h in hashes]
    fields = {
        name: {"value": v, "salt": s, "digest": d}
        for name, v, s, d in zip(names, vals, salts, digests, strict=True)
    }
    root = merkle_root(hashes, alg).hex()
    if not ordered:
        return fields, root, canonical(fields)
    parts = [
        f'{a}:{{"digest":"{d}","salt":{b},"value":{c}}}'
        for a, b, c, d in zip(jnames, jsalts, jvalues, digests, strict=True)
    ]
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
