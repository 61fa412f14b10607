"""The one strict JSON reader for what is verified: licences, receipts, bundles, checkpoints.

I-JSON (RFC 7493) over RFC 8259: no duplicate member names (a file must not carry two readings,
"last one wins" in one parser and "first one wins" in another), no ``NaN`` / ``Infinity``, no
number that a double cannot hold exactly enough to mean the same everywhere (integers beyond
±(2**53 - 1), floats that overflow), valid UTF-8 only. A leading UTF-8 byte-order mark is
skipped (RFC 8259 §8.1 lets a reader ignore it; editors on Windows add one), the same for every
caller. Every refusal is a :class:`StrictJSONError` (a ``ValueError``) whose message a person
understands.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH_TEXT = "JSON nests too deeply"
BOM = b"\xef\xbb\xbf"


class StrictJSONError(ValueError):
    """The text is not I-JSON: malformed, duplicate keys, or a number out of range."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; a duplicate shows as fewer keys than pairs
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise StrictJSONError(
                    f"duplicate key {key!r}: a JSON object may name a member once"
                )
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > 16 or abs(int(text)) > MAX_SAFE_INTEGER:
        raise StrictJSONError(f"number {text[:24]} is too large (I-JSON allows ±(2**53 - 1))")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:24]} is out of range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_integer, parse_float=_float
)


def loads(data: bytes | str) -> Any:
    """Parse ``data`` as I-JSON; StrictJSONError (with a readable reason) otherwise."""
    if isinstance(data, bytes):
        if data.startswith(BOM):
            data = data[len(BOM) :]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"not UTF-8 text (byte {exc.start})") from None
    else:
        text = data.removeprefix("\ufeff")
    try:
        return _DECODER.decode(text)
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError(MAX_DEPTH_TEXT) from None
    except json.JSONDecodeError as exc:
        raise StrictJSONError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; truncated?)"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise StrictJSONError(f"not valid JSON: {exc}") from None


def integer(value: Any, what: str, upper: int = MAX_SAFE_INTEGER) -> int:
    """``value`` if it is a JSON integer in ``0..upper``: booleans, floats (``2.0`` too) and
    strings (``"2"``) are refused, not coerced."""
    if type(value) is not int:
        shown = json.dumps(value)[:24] if isinstance(value, str | bool | float) else type(value)
        raise StrictJSONError(f"{what} must be a whole number, not {shown}")
    if not 0 <= value <= upper:
        raise StrictJSONError(f"{what} {value} is out of range (0 to {upper})")
    return value
