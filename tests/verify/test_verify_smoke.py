"""Smoke: a valid licence passes online; the report forms are complete."""

from __future__ import annotations

import json

from licence.trust import online_context
from licence.verify import TOTAL_PASSED, verify_input


def test_valid_licence_with_receipt_passes_online(world) -> None:
    ctx = online_context(world.svc)
    data = json.dumps(world.bundle(), ensure_ascii=False).encode()
    report = verify_input(data, ctx)
    print(report.to_text())
    assert report.verdict == TOTAL_PASSED, report.to_text()
