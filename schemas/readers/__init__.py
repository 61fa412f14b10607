"""Read department files (CSV, JSON lines, Parquet, XLSX) into Arrow with a contract's types.

The package turns the bytes a department sent into text columns and then, with a contract,
into a typed table, with a reason code per row for every value that is merely bad and one
:class:`ReadError` for a file that cannot be read at all (see :mod:`schemas.readers.read` for
the rules every reader keeps). Public: :func:`read_file` and :func:`read_text` (and their
results :class:`ReadResult` and :class:`TextRead`), :class:`ReadError`, :func:`decode`,
:func:`combined`, ``ROW_COLUMN`` and ``MAX_FIELD_CHARS``, all exported here; the modules
behind them are the package's own.
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
