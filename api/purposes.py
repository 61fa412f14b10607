"""Registered purposes: the ASCII codes a client declares in ``X-Purpose``, with the Chinese and
English titles people read.

HTTP header values are bytes (Latin-1 at best), so a purpose travels as a registered code such as
``social-assistance-review``; ``社会救助审核`` is its title, shown by ``hub client list``, ``hub
audit query`` and the gate's refusals. The codes are declared as data in ``api/purposes.yaml``;
a site adds its own in ``$HUB_HOME/purposes.yaml`` (same layout; a shipped code cannot be
redefined). ``hub client grant --purpose`` takes a code or one of its titles and stores the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("purposes.yaml")
SITE_FILE = "purposes.yaml"
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")


class PurposeError(ValueError):
    """A purposes file is malformed, or a purpose is not registered."""


@dataclass(frozen=True)
class Purpose:
    code: str
    zh: str
    en: str

    @property
    def label(self) -> str:
        """``code (中文 / English)``: how a person reads it."""
        return f"{self.code} ({self.zh} / {self.en})"


@dataclass(frozen=True)
class Purposes:
    """The registry: codes with their titles."""

    by_code: dict[str, Purpose]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self.by_code

    def get(self, code: str) -> Purpose | None:
        return self.by_code.get(code)

    def label(self, code: str) -> str:
        """``code (中文 / English)`` for a registered code; the code alone otherwise."""
        found = self.by_code.get(code)
        return found.label if found is not None else f"{code} (unregistered)"

    def resolve(self, text: str) -> str | None:
        """The code ``text`` names: a code itself, or a Chinese or English title (exact; the
        English case-insensitively). None if it names none."""
        value = text.strip()
        if value in self.by_code:
            return value
        folded = value.casefold()
        for p in self.by_code.values():
            if value == p.zh or folded == p.en.casefold():
                return p.code
        return None

    def codes(self) -> list[str]:
        return sorted(self.by_code)


def _parse(path: Path) -> dict[str, Purpose]:
    import yaml

    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PurposeError(f"{path.name}: cannot be read as YAML ({type(exc).__name__})") from None
    entries = doc.get("purposes") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise PurposeError(f"{path.name}: expected a mapping 'purposes: {{code: {{zh, en}}}}'")
    found: dict[str, Purpose] = {}
    for code, titles in entries.items():
        if not isinstance(code, str) or not CODE.match(code):
            raise PurposeError(
                f"{path.name}: purpose code {code!r} must be 2-64 of a-z, 0-9 and '-'"
            )
        if not (
            isinstance(titles, dict)
            and isinstance(titles.get("zh"), str)
            and isinstance(titles.get("en"), str)
            and titles["zh"].strip()
            and titles["en"].strip()
        ):
            raise PurposeError(f"{path.name}: purpose {code!r} needs both 'zh' and 'en' titles")
        found[code] = Purpose(code, titles["zh"].strip(), titles["en"].strip())
    return found


@lru_cache(maxsize=8)
def _load(site: Path | None, stamp: float) -> Purposes:
    by_code = _parse(SHIPPED)
    if site is not None:
        for code, purpose in _parse(site).items():
            if code in by_code and by_code[code] != purpose:
                raise PurposeError(f"{site.name}: purpose {code!r} is already registered")
            by_code[code] = purpose
    return Purposes(by_code)


def registry(home: Path | None = None) -> Purposes:
    """The shipped purposes, plus the site's ``home/purposes.yaml`` if it exists."""
    site = home / SITE_FILE if home is not None else None
    if site is not None and not site.is_file():
        site = None
    stamp = site.stat().st_mtime if site is not None else 0.0
    return _load(site, stamp)
