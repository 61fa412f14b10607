"""Rows to statements: a merge chunk's subjects and columns (Arrow arrays, or Python lists) as
the JSON arrays the library stores, built by Arrow's string kernels where possible."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, cast

from storage.library.model import (
    LibraryError,
    Statements,
    encode_json,
    positional,
    statement_values,
)


def statements_from_arrow(subjects: Any, columns: Mapping[str, Any]) -> Statements:
    """The statements of rows already sorted by subject (stably, no nulls), as
    :meth:`LibraryStore.merge_chunks` takes them.

    ``subjects`` is an Arrow string array and ``columns`` maps each library field to an Arrow
    string array aligned with it (nulls are no value). The JSON text is assembled by Arrow's
    string kernels; only rows holding a character JSON escapes, and subjects with several rows
    (of which the later row wins per field), go through the Python encoder. The result equals
    what :meth:`merge_chunks` makes of the same rows as Python lists.
    """
    return prepare_statements(subjects, columns).finish()


@dataclass(frozen=True)
class PreparedStatements:
    """Statements whose Arrow work is done (:func:`prepare_statements`); :meth:`finish` makes
    the Python objects a merge writes."""

    fields: tuple[str, ...]
    columns: list[Any]  # Arrow string arrays, in field order
    subjects: Any  # Arrow string array
    text: Any  # Arrow string array: each row's statement, before the Python path's rows
    present: Any  # numpy int32: values per row
    slow: Any  # numpy bool: rows the Python encoder makes (escapes, subjects with several rows)
    same_next: Any  # numpy bool: the next row has the same subject

    @property
    def plain(self) -> bool:
        """Is every row's statement the Arrow text as it is (one row per subject, a value in
        each, nothing to escape)? Then a database that takes Arrow text can write it as is."""
        return bool(self.present.all() and not self.slow.any())

    @property
    def facts(self) -> int:
        return int(self.present.sum())

    def finish(self) -> Statements:
        import numpy as np
        import pyarrow as pa

        names, present = self.fields, self.present
        keys = _pylist(self.subjects)
        docs: list[str | None] = _pylist(self.text)
        facts = int(present.sum())
        if self.slow.any():
            rows = np.flatnonzero(self.slow)
            part = {
                f: c.take(pa.array(rows)).to_pylist()
                for f, c in zip(names, self.columns, strict=True)
            }
            facts -= int(present[rows].sum())
            wide = _statements([keys[i] for i in rows], part)
            facts += sum(len(fields) for _, fields in wide)
            merged = {s: positional(fields, names) for s, fields in wide}
            for i in rows:
                docs[i] = None if self.same_next[i] else merged.get(keys[i])
                present[i] = docs[i] is not None  # an empty statement is no statement
        ready = cast("list[str]", docs)  # the rows without a statement are left out here
        if present.all():  # the usual case: every row has a value and its own subject
            return Statements(names, keys, ready, facts)
        kept = np.flatnonzero(present).tolist()
        return Statements(names, [keys[i] for i in kept], [ready[i] for i in kept], facts)


def prepare_statements(subjects: Any, columns: Mapping[str, Any]) -> PreparedStatements:
    """The Arrow part of :func:`statements_from_arrow`: no Python object per row is made, and
    Arrow's kernels release the GIL, so it can run in a worker thread while the merge writes
    the previous chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(subjects)
    names = sorted(columns)
    cols = [_arrow_array(columns[f]) for f in names]
    subjects = _arrow_array(subjects)
    for f, c in zip(names, cols, strict=True):
        if len(c) != n:
            raise LibraryError(f"column {f!r} has {len(c)} values, not {n}")
        if not pa.types.is_string(c.type):
            raise LibraryError(f"column {f!r} is {c.type}, not text")
    if subjects.null_count:
        raise LibraryError("statements need a subject on every row")
    if n > 1 and pc.any(pc.less(subjects.slice(1), subjects.slice(0, n - 1))).as_py():
        raise LibraryError("statements_from_arrow needs the rows sorted by subject")
    # rows the Python encoder handles: escapes needed, or one of several rows of a subject
    slow = np.zeros(n, dtype=bool)
    for c in cols:
        slow[_json_special_rows(c)] = True
    same_next = np.zeros(n, dtype=bool)
    if n > 1:
        same_next[:-1] = pc.equal(subjects.slice(1), subjects.slice(0, n - 1)).to_numpy(
            zero_copy_only=False
        )
    slow[:-1] |= same_next[:-1]
    slow[1:] |= same_next[:-1]
    # the values joined as '["v1","v2",...]' with a NUL standing for a missing value, then
    # '"NUL"' made null: a real value holding NUL is on the Python path anyway
    body = pc.binary_join_element_wise(*cols, '","', null_handling="replace", null_replacement="\0")
    text = pc.binary_join_element_wise('["', body, '"]', "")
    present = np.zeros(n, dtype=np.int32)
    for c in cols:
        present += pc.is_valid(c).to_numpy(zero_copy_only=False)
    holey = present < len(cols)  # only these rows hold a '"NUL"' to replace
    if holey.any():
        rows = pa.array(np.flatnonzero(holey))
        filled = pc.replace_substring(text.take(rows), '"\0"', "null")
        text = pc.replace_with_mask(text, pa.array(holey), filled)
    return PreparedStatements(tuple(names), cols, subjects, text, present, slow, same_next)


def _pylist(values: Any) -> list[Any]:
    """An Arrow string array as a list of str (through numpy: faster than ``to_pylist``)."""
    return list(values.to_numpy(zero_copy_only=False).tolist())


def _arrow_array(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


def string_offsets(column: Any) -> Any:
    """Where each value of an Arrow string (or binary) array starts in its data buffer, and
    where the last one ends: a numpy int32 view of ``len(column) + 1`` offsets."""
    import numpy as np

    return np.frombuffer(
        column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4
    )


def string_bytes(column: Any) -> Any:
    """The UTF-8 bytes of an Arrow string array's values, as a numpy uint8 view."""
    import numpy as np

    data = column.buffers()[2]
    if data is None:
        return np.zeros(0, dtype=np.uint8)
    bounds = string_offsets(column)
    return np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]


def text_sort_indices(values: Any) -> Any:
    """``pyarrow.compute.sort_indices`` of a string array (stable, ascending, nulls last),
    twice as fast for short keys such as resident IDs and USCCs: values of at most 24 bytes
    without a NUL sort as their bytes zero-padded into three big-endian 64-bit words, which
    Arrow sorts as numbers instead of comparing strings (the order is the same: a shorter
    value sorts before a longer one it begins, as its padding is below every byte)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _arrow_array(values)
    n = len(values)
    if n < 2:
        return pc.sort_indices(values)
    if values.null_count:  # the others sorted, then the nulls in their order
        present = pc.is_valid(values)
        at = pc.indices_nonzero(present)
        order = at.take(text_sort_indices(values.filter(present)))
        return pa.concat_arrays([order, pc.indices_nonzero(pc.invert(present))])
    raw = string_bytes(values)
    offsets = string_offsets(values)
    lengths = np.diff(offsets)
    width = int(lengths.max())
    if width == 0 or width > 24 or not raw.all():
        return pc.sort_indices(values)
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    if int(lengths.min()) == width:
        padded[:, :width] = raw.reshape(n, width)
    else:
        rows = np.repeat(np.arange(n), lengths)
        padded[rows, np.arange(len(raw)) - (offsets[:-1] - offsets[0])[rows]] = raw
    keys = padded.view(">u8").astype(np.uint64)
    table = pa.table({f"w{i}": keys[:, i] for i in range(words)})
    return pc.sort_indices(table, [(f"w{i}", "ascending") for i in range(words)])


def _json_special_rows(column: Any) -> Any:
    """The rows of an Arrow string array holding a byte JSON escapes (control, quote,
    backslash; UTF-8 never uses these bytes inside a multi-byte character), found on the
    bytes by numpy: one comparison pass, then the rows of the few hits."""
    import numpy as np

    raw = string_bytes(column)
    at = np.flatnonzero((raw < 0x20) | (raw == 0x22) | (raw == 0x5C))
    if not len(at):
        return at
    offsets = string_offsets(column)
    return np.unique(np.searchsorted(offsets, at + offsets[0], side="right") - 1)


def _statements(
    subjects: Sequence[str | None], columns: Mapping[str, Sequence[Any]]
) -> list[tuple[str, dict[str, str]]]:
    """One (subject, {field: text value}) per subject with at least one value, sorted by
    subject (key order makes the B-tree inserts append-like). Nulls are skipped; of several rows
    of the same subject the later one wins per field."""
    names = sorted(columns)
    cols = [_text_column(columns[n]) for n in names]
    acc: dict[str, dict[str, str]] = {}
    for subject, *row in zip(subjects, *cols, strict=True):
        if subject is None:
            continue
        values = {n: v for n, v in zip(names, row, strict=True) if v is not None}
        prev = acc.get(subject)
        if prev is None:
            acc[subject] = values
        else:
            prev.update(values)
    out = [(s, v) for s, v in acc.items() if v]
    out.sort(key=itemgetter(0))
    return out


def as_statements(
    subjects: Sequence[str | None], columns: Mapping[str, Sequence[Any]]
) -> Statements:
    """A ``(subjects, columns)`` chunk as :class:`Statements`."""
    for name, values in columns.items():
        if len(values) != len(subjects):
            raise LibraryError(f"column {name!r} has {len(values)} values, not {len(subjects)}")
    wide = _statements(subjects, columns)
    layout = tuple(sorted(columns))
    return Statements(
        layout,
        [s for s, _ in wide],
        [positional(fields, layout) for _, fields in wide],
        sum(len(fields) for _, fields in wide),
    )


def relayout(part: Statements, fields: tuple[str, ...]) -> Statements:
    """A chunk's statements in another layout (``()``: JSON objects, as older runs stored)."""
    docs: list[str] = []
    for doc in part.docs:
        values = statement_values(doc, part.fields)
        extra = set(values) - set(fields)
        if fields and extra:
            raise LibraryError(
                f"the chunks of one merge must have the same fields: {sorted(extra)} are new"
            )
        docs.append(positional(values, fields) if fields else encode_json(values).decode())
    return Statements(fields, part.subjects, docs, part.facts)


def _text_column(values: Sequence[Any]) -> Sequence[str | None]:
    """A column as text the way the library stores it; all-text columns pass through."""
    if set(map(type, values)) <= {str, type(None)}:
        return values
    return [None if v is None else library_text(v) for v in values]


def library_text(value: Any) -> str:
    """A value as the text the library stores (dates and times in ISO 8601, booleans 1/0)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
