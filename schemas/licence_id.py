"""Electronic licence identifiers (GB/T 36904, as used in practice): build, parse, validate.

``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>``: the type code is the
USCC of the authority defining the licence type plus three digits, the issuer code the issuing
authority's USCC, the check character ISO/IEC 7064 MOD 37,36 over the concatenated parts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from schemas import uscc
from schemas.identifiers import IdCheck, normalise_code

PREFIX = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SERIAL = re.compile(r"^[0-9A-Z]+$")
_VERSION = re.compile(r"^\d{3}$")


class LicenceIdError(ValueError):
    """A licence identifier that cannot be built or parsed; ``reason`` is the reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LicenceId:
    """The parts of a licence identifier."""

    type_code: str
    issuer_code: str
    serial: str
    version: int
    check: str

    def __str__(self) -> str:
        return ".".join(
            [
                PREFIX,
                self.type_code,
                self.issuer_code,
                self.serial,
                f"{self.version:03d}",
                self.check,
            ]
        )


_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def _state(p: int, data: str) -> int:
    """The running ISO/IEC 7064 MOD 37,36 state ``p`` after ``data``."""
    value = _VALUE
    for char in data:
        v = value.get(char)
        if v is None:
            raise LicenceIdError("FORMAT", f"character {char!r} is not 0-9 or A-Z")
        t = (p + v) % 36
        p = ((t or 36) * 2) % 37
    return p


def check_character(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 check character over ``data`` (digits and capital letters)."""
    return ALPHABET[(37 - _state(36, data)) % 36]


@functools.lru_cache(maxsize=256)
def _prefix_state(type_code: str, issuer_code: str) -> int:
    """Check the type code and issuer code, and return the check's state after them.

    Every licence of a type and issuer shares this prefix, so it is checked once per pair of
    exact strings (the key is the strings themselves: other characters are another entry, and
    a code that fails raises, which is never cached)."""
    if len(type_code) != 21 or not type_code[18:].isdigit():
        raise LicenceIdError("TYPE_CODE", f"type code {type_code!r} is not a USCC plus 3 digits")
    if not uscc.validate(type_code[:18]).valid:
        raise LicenceIdError(
            "TYPE_CODE", f"type code {type_code!r} does not start with a valid USCC"
        )
    if not uscc.validate(issuer_code).valid:
        raise LicenceIdError("ISSUER_CODE", f"issuer code {issuer_code!r} is not a valid USCC")
    return _state(36, type_code + issuer_code)


def _check_parts(type_code: str, issuer_code: str, serial: str, version: str) -> int:
    """LicenceIdError naming the first bad part; else the check's state after the prefix."""
    p = _prefix_state(type_code, issuer_code)
    if not _SERIAL.match(serial):
        raise LicenceIdError("SERIAL", f"serial {serial!r} must be digits and capital letters")
    if not _VERSION.match(version) or version == "000":
        raise LicenceIdError("VERSION", f"version {version!r} must be three digits from 001")
    return p


def build(type_code: str, issuer_uscc: str, serial: str, version: int = 1) -> str:
    """The full identifier with its check character; LicenceIdError names any bad part."""
    if not 1 <= version <= 999:
        raise LicenceIdError("VERSION", f"version {version} must be 1..999")
    ver = f"{version:03d}"
    p = _check_parts(type_code, issuer_uscc, serial, ver)
    check = ALPHABET[(37 - _state(p, serial + ver)) % 36]
    return f"{PREFIX}.{type_code}.{issuer_uscc}.{serial}.{ver}.{check}"


def parse(value: str) -> LicenceId:
    """Split and check an identifier; LicenceIdError with the reason code when it is wrong."""
    text = normalise_code(value)
    if not text.startswith(PREFIX + "."):
        raise LicenceIdError("PREFIX", f"identifier must start with {PREFIX}.")
    parts = text[len(PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise LicenceIdError("FORMAT", "expected type.issuer.serial.version.check after the prefix")
    type_code, issuer_code, serial, version, check = parts
    p = _check_parts(type_code, issuer_code, serial, version)
    if len(check) != 1 or ALPHABET[(37 - _state(p, serial + version)) % 36] != check:
        raise LicenceIdError("CHECKSUM", "the check character does not match")
    return LicenceId(type_code, issuer_code, serial, int(version), check)


def validate(value: str | None) -> IdCheck:
    """Check one licence identifier; details name its parts."""
    original = value or ""
    if not original.strip():
        return IdCheck(original, False, "EMPTY")
    try:
        parsed = parse(original)
    except LicenceIdError as exc:
        return IdCheck(original, False, exc.reason, None, {"message": str(exc)})
    return IdCheck(
        original,
        True,
        None,
        str(parsed),
        {
            "type_code": parsed.type_code,
            "type_authority": parsed.type_code[:18],
            "type_number": parsed.type_code[18:],
            "issuer_code": parsed.issuer_code,
            "serial": parsed.serial,
            "version": f"{parsed.version:03d}",
        },
    )
