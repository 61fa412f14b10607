"""A file's column names checked against its contract, whatever the format.

Every reader gives its header here: a name twice, a required column missing, none of the
contract's columns, or (CSV) a header that splits on another delimiter refuses the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from schemas.readers.results import ReadError

if TYPE_CHECKING:
    from schemas.contracts import Contract


_DELIMS = (",", ";", "\t", "|")


def check_header(
    names: list[str], contract: Contract, filename: str, text_head: str | None = None
) -> None:
    wanted = set(contract.column_names)
    present = set(names)
    if text_head is not None and len(names) == 1 and len(contract.columns) > 1:
        for d in _DELIMS:
            if d != contract.delimiter and d in names[0]:
                raise ReadError(
                    filename,
                    f"wrong delimiter: the header splits on {d!r}, the contract declares "
                    f"{contract.delimiter!r}",
                )
    missing = [c.name for c in contract.columns if c.required and c.name not in present]
    if missing:
        raise ReadError(filename, f"missing required columns: {', '.join(missing)}")
    if not wanted & present:
        raise ReadError(filename, "none of the contract's columns are present")


def check_unique(header: Sequence[str], filename: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name and name in seen:
            raise ReadError(
                filename,
                f"duplicate column {name!r} in the header (columns {seen[name]} and {i}): "
                "which one holds the values is unknown",
            )
        seen.setdefault(name, i)
