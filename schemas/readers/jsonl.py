"""JSON lines (or one JSON array of objects) as text columns.

Values are read with Python's ``json`` decoder, a key twice in one object refused (``json``
would keep the last silently); a value of the wrong JSON type for its column is a
``<column>:TYPE`` flag on its row, not a refusal. A broken file is refused at its line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from schemas.readers.header import check_header
from schemas.readers.results import ReadError

if TYPE_CHECKING:
    from schemas.contracts import Contract


_JSON_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's own whitespace (U+2028 is not)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict, refused when a key appears twice (``json`` would keep
    the last value silently); one C-speed dict and a length, the key found only then."""
    out = dict(pairs)
    if len(out) != len(pairs):
        keys = [k for k, _ in pairs]
        raise _DuplicateKey(next(k for i, k in enumerate(keys) if k in keys[:i]))
    return out


class _DuplicateKey(ValueError):
    pass


def _json_objects(text: str, filename: str) -> list[tuple[int, Any]]:
    """The file's JSON values with their line: JSON lines (one object per line), or one
    array of objects (pretty-printed or not). U+2028 and U+2029 are text inside strings,
    not line breaks; JSON's whitespace separates the values, and only a line break may.
    The common case, a value per line, is read line by line; anything else by a scan of the
    whole text, which also says where a broken file breaks."""
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)
    if not text.lstrip().startswith("["):
        try:
            return [
                (lineno, decoder.decode(line))
                for lineno, line in enumerate(text.split("\n"), 1)
                if line.strip()
            ]
        except (json.JSONDecodeError, _DuplicateKey, RecursionError):
            pass  # the scan below finds the same values, or says what is wrong and where
    return list(_json_scan(text, filename, decoder))


def _json_scan(text: str, filename: str, decoder: json.JSONDecoder) -> Iterator[tuple[int, Any]]:
    pos = _JSON_SPACE.match(text).end()  # type: ignore[union-attr]
    line = 1 + text.count("\n", 0, pos)
    array = text.startswith("[", pos)
    if array:
        pos = _JSON_SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        line = 1 + text.count("\n", 0, pos)
        if text.startswith("]", pos):
            pos += 1
            array = False
    while pos < len(text):
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ReadError(filename, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except _DuplicateKey as exc:
            raise ReadError(
                filename, f"line {line}: key {exc.args[0]!r} appears twice in one object"
            ) from None
        except RecursionError:  # the decoder's own bound, a few hundred levels deep
            raise ReadError(filename, f"line {line}: JSON nested too deeply") from None
        yield line, obj
        gap = _JSON_SPACE.match(text, end).end()  # type: ignore[union-attr]
        between = text[end:gap]
        nxt = gap
        if array:
            if text.startswith("]", gap):
                rest = _JSON_SPACE.match(text, gap + 1).end()  # type: ignore[union-attr]
                if rest != len(text):
                    where = 1 + text.count("\n", 0, rest)
                    raise ReadError(filename, f"line {where}: text after the JSON array")
                return
            if not text.startswith(",", gap):
                where = 1 + text.count("\n", 0, gap)
                raise ReadError(filename, f"line {where}: not valid JSON (expected , or ])")
            nxt = _JSON_SPACE.match(text, gap + 1).end()  # type: ignore[union-attr]
        elif gap < len(text) and "\n" not in between and "\r" not in between:
            where = 1 + text.count("\n", 0, gap)
            raise ReadError(filename, f"line {where}: two JSON values on one line")
        line += text.count("\n", pos, nxt)
        pos = nxt
    if array:
        raise ReadError(filename, "truncated: the JSON array is not closed")


def read_jsonl_strings(
    text: str, contract: Contract, filename: str
) -> tuple[dict[str, pa.Array], list[tuple[str, list[int]]]]:
    """JSON objects as text columns, and the rows whose value is not of its column's JSON
    type (``<column>:TYPE``): a string column takes strings only; no column takes a list or
    an object. Numbers and booleans of other columns are kept as their JSON text."""
    if not text.strip():
        raise ReadError(filename, "empty file")
    names = contract.column_names
    strings = {c.name for c in contract.columns if c.type == "string"}
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    wrong: dict[str, list[int]] = {}
    seen: set[str] = set()
    row = 0
    for lineno, obj in _json_objects(text, filename):
        if not isinstance(obj, dict):
            raise ReadError(
                filename, f"line {lineno}: expected a JSON object, not {_json_kind(obj)}"
            )
        seen.update(obj)
        for n in names:
            v = obj.get(n)
            if v is None or isinstance(v, str):
                cols[n].append(v)
                continue
            if n in strings or isinstance(v, (list, dict)):
                wrong.setdefault(n, []).append(row)
            cols[n].append(json.dumps(v, ensure_ascii=False))
        row += 1
    check_header(sorted(seen), contract, filename)
    flags = [(f"{n}:TYPE", rows) for n, rows in wrong.items()]
    return {n: pa.array(v, pa.string()) for n, v in cols.items() if n in seen}, flags


def _json_kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
