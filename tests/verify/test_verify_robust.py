"""Damaged input of any kind gives a report, never an exception, and never a false pass."""

from __future__ import annotations

import json
import random

from verify_fixtures import run

from licence.trust import online_context
from licence.verify import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, verify_input

VERDICTS = {TOTAL_PASSED, TOTAL_FAILED, INDETERMINATE}


def test_random_byte_damage_never_raises(world) -> None:
    data = json.dumps(world.bundle(), ensure_ascii=False).encode()
    ctx = online_context(world.svc)
    rng = random.Random(9)
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        report = verify_input(bytes(damaged), ctx)
        assert report.verdict in VERDICTS
        json.loads(report.to_json())


def test_value_damage_in_every_field_is_caught(world) -> None:
    """Changing any one disclosed value (or its salt) always fails integrity."""
    base = world.bundle()
    for name in base["licence"]["fields"]:
        for part in ("value", "salt"):
            b = world.bundle()
            entry = b["licence"]["fields"][name]
            entry[part] = str(entry[part]) + "x"
            report = run(world.svc, b)
            assert report.verdict == TOTAL_FAILED, (name, part)


def test_odd_shapes(world) -> None:
    ctx = online_context(world.svc)
    for data in [b"", b"   ", b"[]", b"null", b"{" * 5000 + b"}" * 5000, b"\xff\xfe", b"%PDF-1.7"]:
        assert verify_input(data, ctx).verdict == TOTAL_FAILED, data[:20]
    shapes = [
        {"header": [], "signature": {}, "fields": {}},
        {"licence": {"header": {"licence_id": 1}}, "receipt": {}},
        {"licence": {"header": {}, "signature": {}, "fields": {"a": "b"}}},
    ]
    for obj in shapes:
        assert run(world.svc, obj).verdict == TOTAL_FAILED, obj
