"""The reader's text flags: a value with a control character, or longer than the cap.

``<column>:CONTROL_CHAR`` and ``<column>:TOO_LONG`` are judged on the trimmed value
(:func:`_text_flags_reference`, the definition); :func:`_text_masks` gives the same flags by
looking at the UTF-8 bytes with numpy first and running the definition only on the few rows
that could be flagged, so a clean column costs a few passes over its data buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.identifiers import CONTROL_RE
from schemas.readers.results import Mask, Text

if TYPE_CHECKING:
    from schemas.contracts import Contract


MAX_FIELD_CHARS = 4096
# C0/C1 control characters other than tab (CR/LF inside a value is also refused): the same
# rule as the quality engine's CONTROL_CHAR
_CONTROL = CONTROL_RE
# a Python "" passed to a compute function makes pyarrow import pandas (1.5 s) to test its type
_EMPTY = pa.scalar("", pa.string())


def _text_flags_reference(col: pa.Array) -> tuple[pa.Array, ...]:
    """The reader's text flags by definition, on the trimmed value: control characters and
    over-long. :func:`_text_flags` gives the same flags faster; this is what it runs on the
    few rows that could be flagged."""
    trimmed = pc.utf8_trim_whitespace(col)
    trimmed = pc.if_else(pc.equal(trimmed, _EMPTY), pa.scalar(None, pa.string()), trimmed)
    control = pc.fill_null(pc.match_substring_regex(trimmed, _CONTROL), False)
    long = pc.fill_null(pc.greater(pc.utf8_length(trimmed), MAX_FIELD_CHARS), False)
    return control, long


def _lut(values: list[int]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    lut = np.zeros(256, dtype=bool)
    lut[values] = True
    return lut


# UTF-8 bytes that can belong to a character of _CONTROL: C0 controls but tab, DEL, and 0xC2,
# the lead byte of U+0080-U+009F (only when the next byte is below 0xA0)
_CONTROL_BYTES = _lut([*range(0x09), *range(0x0A, 0x20), 0x7F, 0xC2])


def _any_control_byte(seg: np.ndarray[Any, np.dtype[np.uint8]]) -> bool:
    """Whether ``seg`` may hold a byte of :data:`_CONTROL_BYTES` (a tab alone also says yes).

    Three vectorised minima (below 0x20; equal to 0x7F; equal to 0xC2) instead of a table
    lookup per byte, which is 8x slower; most columns have none of them.
    """
    if not len(seg) or seg.min() < 0x20:
        return bool(len(seg))
    tmp = np.empty_like(seg)
    for byte in (0x7F, 0xC2):
        np.bitwise_xor(seg, np.uint8(byte), out=tmp)
        if tmp.min() == 0:
            return True
    return False


def _text_flags(col: Text) -> list[pa.Array]:
    """:func:`_text_flags_reference` of ``col`` (see :func:`_text_masks`), as Arrow arrays."""
    return [pa.array(mask) for mask in _text_masks(col)]


def _text_masks(col: Text) -> list[np.ndarray[Any, np.dtype[np.bool_]]]:
    """:func:`_text_flags_reference` of ``col``, evaluated only on the rows that could be flagged.

    Three facts about the UTF-8 bytes rule a row out: trimming only removes characters, so a
    value with no byte of a control character has none after trimming, nor more characters
    than bytes. Finding such bytes is a few numpy passes over the data buffer,
    where the regexes cost a second per million rows.
    """
    if isinstance(col, pa.ChunkedArray):
        parts = [_text_masks(chunk) for chunk in col.chunks]
        if not parts:
            return [np.zeros(0, dtype=bool) for _ in range(2)]
        return [np.concatenate(masks) for masks in zip(*parts, strict=True)]
    n = len(col)
    if not pa.types.is_string(col.type) or col.null_count == n:
        flags = _text_flags_reference(col)
        return [np.asarray(f.to_numpy(zero_copy_only=False), dtype=bool) for f in flags]
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * col.offset)
    data = col.buffers()[2]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    seg = buf[lo:hi]
    lengths = np.diff(offsets)
    maybe = lengths > MAX_FIELD_CHARS
    hits = np.flatnonzero(_CONTROL_BYTES[seg]) if _any_control_byte(seg) else seg[:0]
    if len(hits):
        at_c2 = seg[hits] == 0xC2
        after = np.minimum(hits + 1, len(seg) - 1)
        c1 = at_c2 & (hits + 1 < len(seg)) & (seg[after] < 0xA0)
        hits = hits[~at_c2 | c1]
        maybe[np.searchsorted(offsets, hits + lo, side="right") - 1] = True
    rows = np.flatnonzero(maybe)
    masks = [np.zeros(n, dtype=bool) for _ in range(2)]
    if len(rows):
        subset = _text_flags_reference(col.take(pa.array(rows)))
        for mask, sub in zip(masks, subset, strict=True):
            mask[rows] = np.asarray(sub.to_numpy(zero_copy_only=False), dtype=bool)
    return masks


def column_flags(raw_cols: list[Text], contract: Contract) -> list[list[tuple[str, Mask]]]:
    """The text flags of each column of :func:`_as_sent`, in reason order."""
    flags: list[list[tuple[str, Mask]]] = []
    for c, col in zip(contract.columns, raw_cols, strict=True):
        mine: list[tuple[str, Mask]] = []
        control, long = _text_masks(col)
        mine.append((f"{c.name}:CONTROL_CHAR", control))
        mine.append((f"{c.name}:TOO_LONG", long))
        flags.append(mine)
    return flags
