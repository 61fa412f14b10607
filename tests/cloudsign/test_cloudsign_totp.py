"""HOTP and TOTP against the test vectors of RFC 4226 (Appendix D) and RFC 6238 (Appendix B)."""

from __future__ import annotations

import pytest

from licence.cloudsign import totp

RFC4226_KEY = b"12345678901234567890"
RFC4226 = [
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
]  # fmt: skip

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize("counter", range(10))
def test_hotp_rfc4226_vectors(counter: int) -> None:
    assert totp.hotp(RFC4226_KEY, counter) == RFC4226[counter]


@pytest.mark.parametrize(("t", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_rfc6238_vectors(t: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp.totp(SEEDS[digest], t, digits=8, digest=digest) == expected


def test_match_step_accepts_one_step_of_drift_only() -> None:
    key = SEEDS["sha1"]
    now = 1111111111
    step = totp.time_step(now)
    assert totp.match_step(key, totp.totp(key, now), now) == step
    assert totp.match_step(key, totp.totp(key, now - 30), now) == step - 1
    assert totp.match_step(key, totp.totp(key, now + 30), now) == step + 1
    assert totp.match_step(key, totp.totp(key, now - 90), now) is None


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(totp.TotpError, match="digest"):
        totp.hotp(RFC4226_KEY, 0, digest="md5")
    with pytest.raises(totp.TotpError, match="digits"):
        totp.hotp(RFC4226_KEY, 0, digits=4)


def test_provisioning_uri_carries_the_key_in_base32() -> None:
    uri = totp.provisioning_uri(RFC4226_KEY, "110105********002X", "Hub")
    assert uri.startswith("otpauth://totp/Hub%3A110105%2A%2A%2A%2A%2A%2A%2A%2A002X?")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri
