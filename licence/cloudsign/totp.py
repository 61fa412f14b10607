"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), and otpauth:// provisioning URIs."""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import quote, urlencode

DIGESTS = ("sha1", "sha256", "sha512")


class TotpError(ValueError):
    """An OTP parameter is out of range (digits, step, digest)."""


def hotp(key: bytes, counter: int, digits: int = 6, digest: str = "sha1") -> str:
    """The HOTP value of ``counter`` (RFC 4226 §5.3: dynamic truncation, then mod 10^digits)."""
    if digest not in DIGESTS:
        raise TotpError(f"unsupported OTP digest {digest!r}; expected one of {DIGESTS}")
    if not 6 <= digits <= 10:
        raise TotpError(f"OTP length {digits} outside 6..10 digits")
    if counter < 0:
        raise TotpError(f"negative HOTP counter {counter}")
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F
    code = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def time_step(unix_time: float, step: int = 30, t0: int = 0) -> int:
    """T = floor((unix time - T0) / X) (RFC 6238 §4.2)."""
    if step <= 0:
        raise TotpError(f"TOTP step must be positive, got {step}")
    return int((unix_time - t0) // step)


def totp(
    key: bytes, unix_time: float, digits: int = 6, digest: str = "sha1", step: int = 30
) -> str:
    """The TOTP value at ``unix_time`` (RFC 6238)."""
    return hotp(key, time_step(unix_time, step), digits, digest)


def match_step(
    key: bytes,
    code: str,
    unix_time: float,
    *,
    window: int = 1,
    digits: int = 6,
    digest: str = "sha1",
    step: int = 30,
) -> int | None:
    """The time step within ±``window`` steps whose TOTP equals ``code``, else None.

    The caller must refuse a step at or below the last accepted one (RFC 6238 §5.2: an OTP is
    accepted once); the window tolerates clock drift of one step either way.
    """
    now = time_step(unix_time, step)
    found: int | None = None
    for candidate in range(now - window, now + window + 1):
        if candidate >= 0 and hmac.compare_digest(hotp(key, candidate, digits, digest), code):
            found = candidate  # keep looping: constant work whatever the match position
    return found


def new_secret(size: int = 20) -> bytes:
    """A random OTP key (160 bits: the HMAC-SHA-1 block-friendly size RFC 4226 recommends)."""
    return secrets.token_bytes(size)


def provisioning_uri(
    key: bytes, account: str, issuer: str, digits: int = 6, digest: str = "sha1", step: int = 30
) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps scan (Key Uri Format)."""
    secret = base64.b32encode(key).decode().rstrip("=")
    label = quote(f"{issuer}:{account}")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": digest.upper(),
            "digits": digits,
            "period": step,
        }
    )
    return f"otpauth://totp/{label}?{query}"
