"""Verifying a sealed licence: independent checks composed by a policy, one explained report.

Each check is a small function returning PASSED / FAILED / INDETERMINATE with a reason code and
a plain explanation in Chinese and English (the ETSI / EU DSS vocabulary: the overall verdict is
TOTAL_PASSED, TOTAL_FAILED or INDETERMINATE). A policy names the checks that must hold; an empty
policy is refused, so nothing passes by default. "Cannot check now" (no status service, stale or
missing trust material, anchor backend unreachable) is INDETERMINATE, never FAILED.

Everything here is pure: what a check may consult comes in a :class:`VerifyContext` built by
``licence.trust`` either online (from the running stores) or offline (from a trust bundle).

The modules, leaf first:

- ``results``: ``Status``, ``Verdict``, ``CheckResult``, ``Report`` (imports nothing else here);
- ``context``: ``VerifyContext``, ``SealState`` and the context's memo of pure results;
- ``checks_content`` (identifier, integrity), ``checks_seal`` (signature, certificate chain,
  seal status, authority), ``checks_ledger`` (inclusion, checkpoint, anchor),
  ``checks_status`` (status as of checkpoint, validity, freshness);
- ``policy``: the policies and the runner ``verify``;
- ``pdf``: the PAdES signature of a licence PDF and its tie to the licence;
- ``inputs``: ``verify_input`` for raw bytes (JSON, PDF, QR payload), the one JSON reader;
- ``seal``: verifying a seal itself, as of now;
- ``ses``: a GB/T 38540 SES_Signature over a document (``licence.gbt38540``).

This ``__init__`` is the public surface: callers import from ``licence.verify``.
"""

from __future__ import annotations

from licence.verify.checks_seal import load_certificate
from licence.verify.context import DEFAULT_MAX_AGE_HOURS, Check, SealState, VerifyContext
from licence.verify.inputs import (
    AmbiguousInputError,
    parse_qr,
    qr_host,
    read_licence_json,
    verify_input,
    verify_json,
    verify_qr,
)
from licence.verify.policy import (
    CHECKS,
    CORE_POLICY,
    DEFAULT_POLICY,
    OFFLINE_POLICY,
    SEAL_POLICY,
    Policy,
    policy_of,
    verify,
)
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    TOTAL_FAILED,
    TOTAL_PASSED,
    CheckResult,
    MalformedLicenceError,
    Report,
    Status,
    Verdict,
    china_time,
    utc_time,
)
from licence.verify.seal import verify_seal
from licence.verify.ses import verify_ses

__all__ = [
    "CHECKS",
    "CORE_POLICY",
    "DEFAULT_MAX_AGE_HOURS",
    "DEFAULT_POLICY",
    "FAILED",
    "INDETERMINATE",
    "OFFLINE_POLICY",
    "PASSED",
    "SEAL_POLICY",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "AmbiguousInputError",
    "Check",
    "CheckResult",
    "MalformedLicenceError",
    "Policy",
    "Report",
    "SealState",
    "Status",
    "Verdict",
    "VerifyContext",
    "china_time",
    "load_certificate",
    "parse_qr",
    "policy_of",
    "qr_host",
    "read_licence_json",
    "utc_time",
    "verify",
    "verify_input",
    "verify_json",
    "verify_qr",
    "verify_seal",
    "verify_ses",
]
