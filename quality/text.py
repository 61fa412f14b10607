"""The text policies every value goes through before a rule: characters and formulas.

Text is normalised before any rule, and the typed table holds the normalised values (what the
library stores):

- invisible characters with no meaning in register text (soft hyphen U+00AD, zero-width
  U+200B-U+200D, word joiner and invisible operators U+2060-U+2064, U+FEFF) are removed from
  every value; then leading and trailing whitespace is trimmed and blank text is missing;
- a value holding a bidirectional control (U+061C, U+200E, U+200F, U+202A-U+202E,
  U+2066-U+2069: they reorder what a person reads) is ``BIDI_CONTROL``, one holding hidden
  text (U+206A-U+206F, U+FFF9-U+FFFB, tags U+E0000-U+E007F) ``INVISIBLE_CHAR``, one holding a
  C0/C1 control character other than tab ``CONTROL_CHAR``: quarantined, never stored;
- a text value that a spreadsheet would run as a formula is ``FORMULA`` (OWASP CSV injection;
  in a column whose code table or identifier rule already refuses it, that rule's code):
  one starting with ``=``, ``+``, ``-`` or ``@``, also after leading whitespace (tab, CR) or
  quotes, unless it is only digits, spaces and ``+-.,()/`` (a phone number like
  ``+86 10 1234 5678``, a signed number, a lone ``-``), which cannot call anything. Typed
  columns (int, decimal, date, datetime, bool) accept only their own grammar, so a payload
  there is ``TYPE``; a leading sign is part of the number grammar.

Both are found on the UTF-8 bytes with numpy first (:func:`_suspect_rows`, the first byte of
each value for formulas); only the rows that may hold such a character or trigger go through
the regexes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from quality.arrays import numpy_mask, string_data
from quality.results import Mask
from schemas.identifiers import BIDI_RE, CONTROL_RE, HIDDEN_RE, REMOVED_RE

_REFUSED = (("BIDI_CONTROL", BIDI_RE), ("INVISIBLE_CHAR", HIDDEN_RE), ("CONTROL_CHAR", CONTROL_RE))
# a formula trigger after any leading whitespace or quotes (ASCII, curly and full-width)
_SPACES = r"\s\x{0085}\x{00A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
_QUOTES = "'\"\u2018\u2019\u201c\u201d\uff02\uff07"
_FORMULA_RE = f"^[{_SPACES}{_QUOTES}]*[=+\\-@]"
# what a value starting with + or - may be and still not be a formula: no letter, no operator
# that calls or refers to anything (phone numbers, signed numbers, dashes for "none")
_NOT_FORMULA_RE = r"^[0-9+\-.,()/ ]+$"
# first bytes of a value that may start a formula: the triggers, quotes, ASCII whitespace and
# controls, and the lead bytes of curly and full-width quotes and of Unicode spaces (U+0085
# U+00A0: C2; U+1680: E1; U+2000-U+205F: E2; U+3000: E3); a value starting otherwise needs no
# regex (the engine gives trimmed text, which rarely starts with any of them)
_FORMULA_LEADS = np.zeros(256, dtype=bool)
_FORMULA_LEADS[[*range(0x21), *b"=+-@'\"", 0xC2, 0xE1, 0xE2, 0xE3, 0xEF]] = True


def _continues(
    lead: int,
    b1: npt.NDArray[np.uint8],
    seg: npt.NDArray[np.uint8],
    at: npt.NDArray[np.intp],
    last: int,
) -> Mask:
    """Which ``lead`` bytes at ``at`` (next byte ``b1``) may start a suspect character."""
    if lead == 0xC2:
        found: Mask = b1 <= 0xAD
    elif lead == 0xD8:
        found = b1 == 0x9C
    elif lead == 0xEF:
        found = (b1 == 0xBB) | (b1 == 0xBF)
    elif lead == 0xF3:
        found = b1 == 0xA0
    else:
        found = _after_e2(b1, seg[np.minimum(at + 2, last)])
    return found


def _after_e2(b1: npt.NDArray[np.uint8], b2: npt.NDArray[np.uint8]) -> Mask:
    """U+2060-U+207F (E2 81 ..), U+200B-U+200F (E2 80 8B-8F), U+202A-U+202E (E2 80 AA-AE)."""
    zero_width = (b2 >= 0x8B) & (b2 <= 0x8F)
    embedding = (b2 >= 0xAA) & (b2 <= 0xAE)
    result: Mask = (b1 == 0x81) | ((b1 == 0x80) & (zero_width | embedding))
    return result


def _suspect_rows(text: pa.Array) -> npt.NDArray[np.intp]:
    """Rows that may hold a character the text normalisation removes or refuses (a superset:
    the regexes decide), found on the UTF-8 bytes with numpy: C0 controls but tab and DEL,
    and the lead bytes of the others followed by the continuation bytes they need (C2 80-AD:
    C1 controls to the soft hyphen; D8 9C; E2 80 8B-8F and AA-AE; E2 81; EF BB; EF BF; F3 A0).

    ASCII text (codes, numbers, dates) costs two reductions; other text a copy and a memchr
    per lead byte, then a comparison per lead byte it holds: several times faster than a
    regex per value."""
    if len(text) == text.null_count:
        return np.zeros(0, dtype=np.intp)
    offsets, buf = string_data(text)
    lo, hi = int(offsets[0]), int(offsets[-1])
    seg = buf[lo:hi]
    if not len(seg):
        return np.zeros(0, dtype=np.intp)
    last = len(seg) - 1
    hits: list[npt.NDArray[np.intp]] = []
    if int(seg.min()) < 0x20:
        hits.append(np.flatnonzero((seg < 0x20) & (seg != 0x09)))
    if int(seg.max()) >= 0x7F:
        # which of these bytes occur at all: memchr over a copy is a tenth of a numpy pass
        # per byte, and text other than ASCII (names, addresses) rarely holds any of them
        raw = seg.tobytes()
        if raw.find(b"\x7f") >= 0:
            hits.append(np.flatnonzero(seg == 0x7F))
        for lead in (0xC2, 0xD8, 0xE2, 0xEF, 0xF3):
            if raw.find(lead.to_bytes(1, "big")) < 0:
                continue
            at = np.flatnonzero(seg == lead)
            hits.append(at[_continues(lead, seg[np.minimum(at + 1, last)], seg, at, last)])
    if not hits:
        return np.zeros(0, dtype=np.intp)
    at = np.concatenate(hits)
    if not len(at):
        return at
    return np.unique(np.searchsorted(offsets, at + lo, side="right") - 1)


def normalise_text(text: pa.Array) -> tuple[pa.Array, list[tuple[str, Mask]]]:
    """``text`` without the removed invisible characters, and the rows holding a refused one
    (``BIDI_CONTROL``, ``INVISIBLE_CHAR``, ``CONTROL_CHAR``; the latter judged on the trimmed
    value, as surrounding line breaks are only whitespace). Only the rows that may hold any
    such character (:func:`_suspect_rows`) go through the regexes."""
    n = len(text)
    rows = _suspect_rows(text)
    if not len(rows):
        return text, []
    cleaned = pc.replace_substring_regex(text.take(pa.array(rows)), REMOVED_RE, "")
    trimmed = pc.utf8_trim_whitespace(cleaned)
    flags: list[tuple[str, Mask]] = []
    for code, pattern in _REFUSED:
        mask = np.zeros(n, dtype=bool)
        mask[rows] = numpy_mask(pc.match_substring_regex(trimmed, pattern))
        flags.append((code, mask))
    where = np.zeros(n, dtype=bool)
    where[rows] = True
    return pc.replace_with_mask(text, pa.array(where), cleaned), flags


def formula_mask(text: pa.Array) -> Mask:
    """Rows of ``text`` a spreadsheet would evaluate (see the module docstring); only values
    whose first byte may start one are matched against the patterns."""
    n = len(text)
    out = np.zeros(n, dtype=bool)
    if n == text.null_count:
        return out
    offsets, buf = string_data(text)
    if not len(buf):
        return out
    # each value's first byte (for an empty or null value, a byte of the next: a spare match)
    leads = np.take(_FORMULA_LEADS, np.take(buf, np.minimum(offsets[:-1], len(buf) - 1)))
    if not leads.any():
        return out
    rows = np.flatnonzero(leads)
    if len(rows):
        sub = text.take(pa.array(rows))
        trigger = numpy_mask(pc.match_substring_regex(sub, _FORMULA_RE))
        harmless = numpy_mask(pc.match_substring_regex(sub, _NOT_FORMULA_RE))
        out[rows] = trigger & ~harmless
    return out
