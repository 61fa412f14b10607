"""Read department files (CSV, JSON lines, Parquet, XLSX) into Arrow with a contract's types.

The package turns the bytes a department sent into text columns and, with a contract, into a
typed table: one :class:`ReadError` for a file that cannot be read at all, a reason code per
row for a value that is merely bad (the rules every reader keeps are in :mod:`.read`). Public,
and exported here: :func:`read_file` and :func:`read_text` with their results
:class:`ReadResult` and :class:`TextRead`, :class:`ReadError`, :func:`decode`,
:func:`combined`, ``ROW_COLUMN`` and ``MAX_FIELD_CHARS``. Behind them, one module per concern:
``read`` (the dispatch by format and the typed table), ``results`` (the shared types and
reason lists), ``encoding`` (decoding and its evidence), ``header`` (column names against the
contract), ``text_flags`` (control characters, length), and a module per format: ``csvfile``,
``jsonl``, ``parquet``, ``xlsx`` (with its caps).
"""

from schemas.readers.encoding import decode
from schemas.readers.read import read_file, read_text
from schemas.readers.results import ROW_COLUMN, ReadError, ReadResult, TextRead, combined
from schemas.readers.text_flags import MAX_FIELD_CHARS

__all__ = [
    "MAX_FIELD_CHARS",
    "ROW_COLUMN",
    "ReadError",
    "ReadResult",
    "TextRead",
    "combined",
    "decode",
    "read_file",
    "read_text",
]
