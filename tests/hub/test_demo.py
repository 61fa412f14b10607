"""`make demo` at a small size: counts add up, the three verifications explain themselves, and a
second run changes nothing."""

from __future__ import annotations

from hub import demo
from hub.settings import Settings


def _failed(report: object) -> dict[str, str]:
    return {c.check: c.reason for c in report.checks if c.status == "FAILED"}  # type: ignore[attr-defined]


def test_demo_summary_and_rerun(settings: Settings, capsys: object) -> None:
    first = demo.run(settings, 1000, 200, 3, 1, airflow=False, data_docs=False)

    assert set(first["summaries"]) == {
        "ca_marriage_death",
        "ca_social_org",
        "hrss_insurance",
        "mr_enterprise",
        "ps_household",
    }
    for ds, run in first["summaries"].items():
        assert run["status"] in ("published", "degraded"), ds
        assert run["rows_in"] == run["rows_accepted"] + run["rows_quarantined"], ds
        assert run["rows_quarantined"] >= 0 and run["rows_accepted"] > 0, ds
    # the synthetic files carry dirt: something was quarantined, with reasons on record
    assert sum(r["rows_quarantined"] for r in first["summaries"].values()) > 0

    assert len(first["issued"]) == 6  # 3 business licences + 3 qualification certificates
    assert first["verdicts"] == ["TOTAL_PASSED", "TOTAL_FAILED", "TOTAL_FAILED"]
    valid, tampered, revoked = first["reports"]
    assert _failed(valid) == {}
    assert "integrity" in _failed(tampered)
    integrity = next(c for c in tampered.checks if c.check == "integrity")
    assert "legal_representative" in integrity.en  # names the altered field
    assert "status" not in _failed(tampered)
    assert _failed(revoked) == {"status": "REVOKED"}
    revoked_text = next(c for c in revoked.checks if c.check == "status").zh
    assert "已吊销" in revoked_text and "以欺骗手段取得许可" in revoked_text
    assert first["offline"].verdict == "TOTAL_PASSED", first["offline"].to_text()
    assert len(first["pdfs"]) == 1 and first["pdfs"][0].read_bytes().startswith(b"%PDF")

    second = demo.run(settings, 1000, 200, 3, 1, airflow=False, data_docs=False)
    assert second["issued"] == first["issued"]
    assert second["verdicts"] == first["verdicts"]
    for ds, run in second["summaries"].items():
        before = first["summaries"][ds]
        assert run["run_id"] == before["run_id"], ds
        assert (run["rows_in"], run["rows_accepted"], run["rows_quarantined"]) == (
            before["rows_in"],
            before["rows_accepted"],
            before["rows_quarantined"],
        ), ds
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "already" in out  # the second run says what it reused
