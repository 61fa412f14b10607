"""Registry of issuing authorities: who may issue which licence types (YAML, validated on load)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


def checked_row(row: Any, source: str) -> Authority:
    """An authority from its YAML (or stored) row, every code checked."""
    try:
        code = str(row["uscc"]).strip().upper()
        check = uscc.validate(code)
        if not check.valid:
            raise AuthorityError(f"{source}: USCC {code} is invalid ({check.reason})")
        types = tuple(licence_types.get(str(t)).code for t in row.get("may_issue") or ())
        return Authority(code, str(row["name"]), str(row["division"]), str(row["kind"]), types)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AuthorityError(f"{source}: missing or malformed entry {exc}") from None
    except licence_types.LicenceTypeError as exc:
        raise AuthorityError(f"{source}: {exc}") from None


@cache
def shipped(path: Path = REGISTRY_FILE) -> dict[str, Authority]:
    """The authorities of the YAML file (what seeds a new hub), keyed by USCC."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Authority] = {}
    for row in data:
        a = checked_row(row, path.name)
        out[a.uscc] = a
    return out


# the hub's registry (``licence.store`` installs a loader reading the SQL store), read again at
# most every REFRESH_SECONDS
REFRESH_SECONDS = 5.0
_registry: dict[str, Any] = {"loader": None, "at": 0.0, "current": None}
_lock = threading.Lock()


def use_registry(loader: Callable[[], dict[str, Authority]] | None) -> None:
    """Read the authorities from ``loader`` instead of the YAML file (None: back to the file)."""
    with _lock:
        _registry.update(loader=loader, at=0.0, current=None)


def refresh() -> None:
    """Read the registry again at the next look-up (after this process changed it)."""
    with _lock:
        _registry.update(at=0.0, current=None)


def registry(path: Path | None = None) -> dict[str, Authority]:
    """Authorities keyed by USCC: the hub's registry when one is in use, else the YAML file
    (``path`` when given)."""
    loader = _registry["loader"]
    if path is not None or loader is None:
        return shipped(path or REGISTRY_FILE)
    now = time.monotonic()
    if _registry["current"] is None or now - _registry["at"] > REFRESH_SECONDS:
        with _lock:
            if _registry["current"] is None or now - _registry["at"] > REFRESH_SECONDS:
                _registry.update(at=now, current=loader())
    found: dict[str, Authority] = _registry["current"]
    return found


def get(code: str, path: Path | None = None) -> Authority:
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
