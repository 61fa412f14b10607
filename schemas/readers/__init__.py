"""Read department files (CSV, JSON lines, Parquet, XLSX) into Arrow text columns.

The package turns the bytes a department sent into the contract's columns as text: one
:class:`ReadError` for a file that cannot be read at all, a reason code per row for a value that
is merely bad (the rules every reader keeps are in :mod:`.read`); the columns' types are parsed
by the quality engine. Public, and exported here: :func:`read_text` with its result
:class:`TextRead`, :class:`ReadError`, :func:`decode`, :func:`combined`, ``ROW_COLUMN`` and
``MAX_FIELD_CHARS``. Behind them, one module per concern: ``read`` (the dispatch by format),
``results`` (the shared types and reason lists), ``encoding`` (decoding and its evidence),
``header`` (column names against the contract), ``text_flags`` (control characters, length), and
a module per format: ``csvfile``, ``jsonl``, ``parquet``, ``xlsx`` (with its caps).
"""

from schemas.readers.encoding import decode
from schemas.readers.read import read_text
from schemas.readers.results import ROW_COLUMN, ReadError, TextRead, combined
from schemas.readers.text_flags import MAX_FIELD_CHARS

__all__ = [
    "MAX_FIELD_CHARS",
    "ROW_COLUMN",
    "ReadError",
    "TextRead",
    "combined",
    "decode",
    "read_text",
]
