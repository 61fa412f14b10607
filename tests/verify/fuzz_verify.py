"""Atheris fuzz target for ``licence.verify.verify_input``: whatever the bytes, a report.

Run: ``.venv/bin/python tests/verify/fuzz_verify.py -atheris_runs=100000 [CORPUS_DIR]``
(libFuzzer flags apply; ``-max_total_time=S`` bounds the run by time). The context is the
offline one of the tamper vectors (their signed trust bundle and pinned anchor), with the
genuine licence as the QR look-up, so every check runs. Any exception escaping
``verify_input`` is a bug: malformed input must give TOTAL_FAILED with a reason instead.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from ledger import note, receipt, strict_json
    from licence import verify
    from licence.trust import load_bundle, offline_context
    from licence.trust_anchors import load_anchors

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _context() -> verify.VerifyContext:
    import dataclasses

    bundle = load_bundle((VECTORS / "trust" / "bundle.json").read_bytes())
    now = dt.datetime.fromisoformat(bundle["exported_at"]) + dt.timedelta(hours=1)
    ctx = offline_context(bundle, load_anchors(VECTORS / "trust"), now=now)
    pair = json.loads((VECTORS / "licence" / "valid.json").read_text(encoding="utf-8"))
    doc = pair["licence"]
    lid = doc["header"]["licence_id"]
    return dataclasses.replace(
        ctx,
        document_of=lambda wanted: doc if wanted == lid else None,
        receipt_of=lambda wanted: (
            receipt.Receipt.from_dict(pair["receipt"]) if wanted == lid else None
        ),
    )


_CTX = _context()
_VERDICTS = {verify.TOTAL_PASSED, verify.TOTAL_FAILED, verify.INDETERMINATE}
del note, strict_json  # instrumented for coverage; verify_input reaches them


def test_one_input(data: bytes) -> None:
    report = verify.verify_input(data, _CTX)
    assert report.verdict in _VERDICTS, report.verdict
    report.to_json()  # the report itself must always serialise
    report.to_text()


def main(argv: list[str]) -> None:
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
