"""Registry of issuing authorities: who may issue which licence types (YAML, validated on load)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schemas import licence_types, uscc

REGISTRY_FILE = Path(__file__).with_name("authorities.yaml")


class AuthorityError(ValueError):
    """An authority is unknown, malformed, or not allowed to issue a licence type."""


@dataclass(frozen=True)
class Authority:
    uscc: str
    name: str
    division: str
    kind: str
    may_issue: tuple[str, ...]  # licence type codes

    def allowed(self, lt: licence_types.LicenceType) -> bool:
        return lt.code in self.may_issue and self.kind in lt.issuer_kinds


@cache
def registry(path: Path = REGISTRY_FILE) -> dict[str, Authority]:
    """Authorities keyed by USCC; every USCC and licence type is checked on load."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Authority] = {}
    for row in data:
        check = uscc.validate(str(row["uscc"]))
        if not check.valid:
            raise AuthorityError(f"{path.name}: USCC {row['uscc']} is invalid ({check.reason})")
        types = tuple(licence_types.get(str(t)).code for t in row["may_issue"])
        a = Authority(
            str(row["uscc"]), str(row["name"]), str(row["division"]), str(row["kind"]), types
        )
        out[a.uscc] = a
    return out


def get(code: str, path: Path = REGISTRY_FILE) -> Authority:
    """The registered authority with this USCC."""
    reg = registry(path)
    if code not in reg:
        raise AuthorityError(f"authority {code} is not registered as an issuing authority")
    return reg[code]


def require_allowed(authority: Authority, lt: licence_types.LicenceType) -> None:
    """Raise AuthorityError unless ``authority`` may issue ``lt``."""
    if not authority.allowed(lt):
        raise AuthorityError(
            f"{authority.name} ({authority.uscc}) is not allowed to issue {lt.name} ({lt.name_en})"
        )
