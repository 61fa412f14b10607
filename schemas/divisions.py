"""GB/T 2260 administrative division codes with the years each name was valid.

The historical table is taken from python-stdnum (``stdnum/cn/loc.dat``), a maintained package
that ships the codes with their validity years (compiled from the Ministry of Civil Affairs'
yearly lists); we depend on it rather than copying the data so that updates arrive with the
package. Abolished codes stay in the table: an ID number issued under an old code stays valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


@dataclass(frozen=True)
class DivisionName:
    """One name a code carried, from ``start`` to ``end`` (inclusive years; None = open)."""

    name: str
    start: int | None
    end: int | None

    def covers(self, year: int) -> bool:
        return (self.start is None or self.start <= year) and (self.end is None or year <= self.end)


class DivisionTable:
    """Lookup of six-digit division codes: known at all, valid in a year, and their names."""

    def __init__(self, entries: dict[str, tuple[DivisionName, ...]]) -> None:
        self._entries = entries
        self._known = np.zeros(1_000_000, dtype=bool)
        for code in entries:
            self._known[int(code)] = True

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._entries

    def known(self, code: str) -> bool:
        """True if the code was ever a GB/T 2260 division code."""
        return code in self._entries

    def known_mask(self, codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.bool_]:
        """Vectorised :meth:`known` over integer codes 0..999999."""
        mask: npt.NDArray[np.bool_] = self._known[codes]
        return mask

    def names(self, code: str) -> tuple[DivisionName, ...]:
        return self._entries.get(code, ())

    def name(self, code: str, year: int | None = None) -> str | None:
        """The code's name in ``year`` (its latest name when no year is given), else None."""
        names = self._entries.get(code, ())
        if year is None:
            return names[-1].name if names else None
        for entry in names:
            if entry.covers(year):
                return entry.name
        return None

    def valid_in(self, code: str, year: int) -> bool:
        """True if the code was in use in ``year``."""
        return self.name(code, year) is not None

    def full_name(self, code: str, year: int | None = None) -> str | None:
        """Province, prefecture and county names joined, e.g. 安徽省淮南市田家庵区."""
        own = self.name(code, year)
        if own is None:
            return None
        parts: list[str] = []
        for parent in (code[:2] + "0000", code[:4] + "00"):
            if parent != code:
                parent_name = self.name(parent, year) or self.name(parent)
                if parent_name and parent_name not in ("市辖区", "县", "省直辖县级行政区划"):
                    parts.append(parent_name)
        parts.append(own)
        # the prefecture entry of a municipality repeats the province name (北京市北京市)
        deduped = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        return "".join(deduped)

    def codes(self, prefix: str = "") -> list[str]:
        """All codes starting with ``prefix``, sorted."""
        return sorted(c for c in self._entries if c.startswith(prefix))


def parse_loc_dat(text: str) -> dict[str, tuple[DivisionName, ...]]:
    """Parse python-stdnum's loc.dat (province lines, then indented four-digit suffixes)."""
    entries: dict[str, tuple[DivisionName, ...]] = {}
    province = ""
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        head, _, attr = raw.strip().partition(" ")
        key, _, value = attr.partition("=")
        value = value.strip().strip('"')
        if not raw.startswith(" "):
            province = head
            if key == "province":
                entries.setdefault(province + "0000", (DivisionName(value, None, None),))
            continue
        code = province + head
        names = []
        for part in value.split(","):
            match = _PERIOD.match(part)
            if match:
                start, end, name = match.groups()
                names.append(
                    DivisionName(name, int(start) if start else None, int(end) if end else None)
                )
            else:
                names.append(DivisionName(part, None, None))
        entries[code] = tuple(names)
    return entries


@lru_cache(maxsize=1)
def division_table() -> DivisionTable:
    """The GB/T 2260 history table (loaded once per process)."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    return DivisionTable(parse_loc_dat(text))
