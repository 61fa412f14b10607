"""Benchmark: SM2 seals (national profile) — SM2 signing and verification through OpenSSL 3 against
gmssl (pure Python, the other option) in the same run, and licence issuance with an SM2 seal
next to a P-256 seal.

    python -m bench.sm2            # 3,000 licences per seal kind, 300 gmssl operations
    python -m bench.sm2 --quick    # 300 / 30
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench._common import parse_args, peak_rss_mb, report
from bench.licence import synth_fields, synth_holders
from hub.commands.licence import open_service
from hub.settings import Settings
from licence.issuance import Holder, IssueRequest
from licence.service import check_sealed
from licence.signers import ECDSA_P256, SM2_SM3, Sm2Signer, sm2_backend, sm2_verify
from storage.library import LibraryStore
from storage.library import engine_for as library_engine

AUTHORITY = "11430000006122244L"
BATCH = 500
MESSAGE = b'{"digest_alg":"sha256","document_digest":"' + b"ab" * 32 + b'","seal_id":"x"}'


def _signing(n: int, use_openssl: bool) -> tuple[float, float]:
    """(signatures/s, verifications/s) of one SM2 implementation."""
    signer = Sm2Signer(Sm2Signer.generate().private_hex, use_openssl=use_openssl)
    start = time.perf_counter()
    sigs = [signer.sign(MESSAGE) for _ in range(n)]
    sign_s = time.perf_counter() - start
    key = signer.public_key_bytes()
    start = time.perf_counter()
    for sig in sigs:
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        assert sm2_verify(key, r, s, sig, MESSAGE, use_openssl=use_openssl)
    verify_s = time.perf_counter() - start
    return n / sign_s, n / verify_s


def _issue(work: Path, algorithm: str, n: int) -> tuple[float, float]:
    """(licences/s issued and logged, licences/s checked) with one seal of ``algorithm``."""
    settings = Settings(home=work / algorithm, key_passphrase="bench")
    svc = open_service(settings)
    svc.ensure_ca()
    svc.create_seal(AUTHORITY, algorithm=algorithm)
    holders = synth_holders(n)
    LibraryStore(library_engine(settings.db_url)).merge(
        "legal-entity",
        "bench",
        "samr.entities",
        datetime.now(UTC),
        [h for h, _ in holders],
        {"entity_name": [name for _, name in holders]},
    )
    docs = []
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        docs += svc.issue_many(
            [
                IssueRequest("business_licence", AUTHORITY, Holder(*holders[i]), synth_fields(i))
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
    issue_s = time.perf_counter() - start
    assert all(d["signature"]["algorithm"] == algorithm for d in docs)
    docs = [json.loads(json.dumps(d)) for d in docs]  # as a verifier receives them
    start = time.perf_counter()
    for d in docs:
        check_sealed(d)
    check_s = time.perf_counter() - start
    return n / issue_s, n / check_s


def main() -> None:
    args = parse_args(__doc__ or "")
    n, n_gm = (300, 30) if args.quick else (3_000, 300)
    backend = sm2_backend()
    print(f"SM2 backend: {backend}")
    ossl_sign, ossl_verify = _signing(n_gm * 10, use_openssl=True)
    gm_sign, gm_verify = _signing(n_gm, use_openssl=False)
    print(
        f"SM2 sign/verify: {backend} {ossl_sign:,.0f}/s / {ossl_verify:,.0f}/s; "
        f"baseline gmssl {gm_sign:,.0f}/s / {gm_verify:,.0f}/s; "
        f"ratio {ossl_sign / gm_sign:.1f}x / {ossl_verify / gm_verify:.1f}x"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-sm2-"))
    try:
        p256_issue, p256_check = _issue(work, ECDSA_P256, n)
        sm2_issue, sm2_check = _issue(work, SM2_SM3, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"issued {n} licences (sealed, stored, logged): SM2 seal {sm2_issue:,.0f}/s, "
        f"P-256 seal {p256_issue:,.0f}/s (SM2/P-256 {sm2_issue / p256_issue:.2f})"
    )
    print(
        f"checked {n} sealed licences (integrity + seal signature): SM2 {sm2_check:,.0f}/s, "
        f"P-256 {p256_check:,.0f}/s; peak RSS {peak_rss_mb():.0f} MiB"
    )
    report(
        "sm2",
        {
            "backend": backend,
            "sm2_sign_per_s": round(ossl_sign, 1),
            "sm2_verify_per_s": round(ossl_verify, 1),
            "gmssl_sign_per_s": round(gm_sign, 1),
            "gmssl_verify_per_s": round(gm_verify, 1),
            "licences": n,
            "sm2_issue_per_s": round(sm2_issue, 1),
            "p256_issue_per_s": round(p256_issue, 1),
            "sm2_check_per_s": round(sm2_check, 1),
            "p256_check_per_s": round(p256_check, 1),
            "peak_rss_mib": round(peak_rss_mb(), 1),
        },
        "gmssl (pure-Python SM2) signing in the same run; P-256 issuance alongside",
        ossl_sign / gm_sign,
    )


if __name__ == "__main__":
    main()
