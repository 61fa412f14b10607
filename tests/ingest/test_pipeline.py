"""The ingest pipeline end to end on synthetic department files (no Airflow, no servers)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.synth import SynthResult, generate
from hub.wiring import ingest_services
from pipeline.cross_checks import cross_checks
from pipeline.resubmit import export_quarantine, resubmit
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from pipeline.work import arrow_bytes, load_table, parquet_bytes
from schemas.readers import ReadError
from tests.servicekit import session_database_url

REPO = Path(__file__).resolve().parents[2]
ORDER = ["ps_household", "ca_marriage_death", "hrss_insurance", "mr_enterprise", "ca_social_org"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("synth"), persons=300, entities=40, seed=7, dirt=0.01)


@pytest.fixture
def hub(settings: Settings) -> IngestServices:
    return ingest_services(settings)


def _ingest_all(hub: IngestServices, synth: SynthResult) -> dict[str, dict]:
    out = {}
    for ds in ORDER:
        path = synth.files[ds]
        out[ds] = run_pipeline(hub, ds, path.read_bytes(), path.name)
    return out


def test_every_contract_ingests_and_nothing_is_lost(
    hub: IngestServices, synth: SynthResult
) -> None:
    refs = _ingest_all(hub, synth)
    for ds, ref in refs.items():
        assert ref["status"] == "published", ds
        assert ref["rows_in"] == synth.rows[ds]
        assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    assert refs["ps_household"]["rows_quarantined"] > 0
    assert refs["ps_household"]["asset"] == "library://population"
    assert refs["mr_enterprise"]["asset"] == "library://legal-entity"
    # quarantine Parquet exists with a reason per row
    q = hub.library.list_quarantine("ps_household")
    assert q and q[0]["rows"] == refs["ps_household"]["rows_quarantined"]
    export = export_quarantine(hub, q[0]["run_id"]).decode("utf-8-sig").splitlines()
    assert export[0].endswith("_reasons") and len(export) == q[0]["rows"] + 1
    # the library answers, with provenance
    some_id = hub.library.subjects("population")[0]
    rec = hub.library.person(some_id)
    assert rec is not None and rec.fields["name"].dataset == "ps_household"


def test_same_file_again_changes_nothing(hub: IngestServices, synth: SynthResult) -> None:
    path = synth.files["ps_household"]
    first = run_pipeline(hub, "ps_household", path.read_bytes(), path.name)
    snap, facts = hub.library.golden_snapshot(), hub.library.fact_count()
    again = run_pipeline(hub, "ps_household", path.read_bytes(), "renamed.csv")
    assert again["run_id"] == first["run_id"]
    assert again["message"] == "already ingested: nothing changed"
    assert again["rows_in"] == first["rows_in"]
    assert hub.library.golden_snapshot() == snap and hub.library.fact_count() == facts
    assert len(hub.library.list_runs("ps_household")) == 1


def test_unreadable_file_fails_clearly_and_reaches_nothing(hub: IngestServices) -> None:
    data = "id_number;name;sex\n11010519491231002X;张三;2\n".encode()
    with pytest.raises(ReadError, match=r"bad\.csv: wrong delimiter"):
        run_pipeline(hub, "ps_household", data, "bad.csv")
    (run,) = hub.library.list_runs()
    assert run["status"] == "failed" and "wrong delimiter" in run["message"]
    assert hub.objects.get(run["object_key"]) == data  # raw file stays in landing
    assert hub.library.fact_count() == 0


def test_each_step_does_what_its_name_says(hub: IngestServices, synth: SynthResult) -> None:
    """The check step sets nothing aside (it writes work files); the quarantine step keeps the
    rejected rows; the merge writes the library; accuracy is measured by a step of its own."""
    from pipeline import steps

    path = synth.files["ps_household"]
    ref = steps.check(hub, steps.land(hub, "ps_household", path.read_bytes(), path.name))
    assert ref["rows_quarantined"] > 0 and hub.library.list_quarantine() == []
    ref = steps.quarantine(hub, ref)
    (entry,) = hub.library.list_quarantine()
    assert entry["rows"] == ref["rows_quarantined"] and hub.objects.exists(entry["object_key"])
    assert ref["quarantine_key"] == entry["object_key"] and hub.library.fact_count() == 0
    merged = steps.merge(hub, ref)
    assert hub.library.fact_count() == merged["facts"] > 0
    assert "accuracy" not in merged["metrics"]
    assert "accuracy" in steps.measure_accuracy(hub, merged)["metrics"]


def test_expired_work_files_are_made_again_by_a_rerun(
    settings: Settings, hub: IngestServices, synth: SynthResult
) -> None:
    """Work files expire (a MinIO lifecycle rule in production): a merge whose checked rows
    are gone says to run the check step again, merges nothing and marks the run failed with
    that message; after that check, the run ends as it would have. The check step writes the
    checked rows and the rejected ones (for the quarantine step): it reads the landed file."""
    from pipeline import steps as ingest

    path = synth.files["ps_household"]
    checked = ingest.check(hub, ingest.land(hub, "ps_household", path.read_bytes(), path.name))
    work = settings.objects_path / "work" / checked["run_id"]
    assert sorted(p.name for p in work.iterdir()) == ["checked.arrow", "rejected.arrow"]
    checked = ingest.quarantine(hub, checked)
    checked_rows = work / "checked.arrow"
    stored = checked_rows.read_bytes()
    checked_rows.unlink()  # the checked rows expired before the merge step ran
    with pytest.raises(ingest.IngestError, match=r"checked rows .* are gone.*check step again"):
        ingest.merge(hub, checked)
    run = hub.library.get_run(checked["run_id"])
    assert run["status"] == "failed" and "check step again" in run["message"]
    assert hub.library.fact_count() == 0  # nothing merged
    checked = ingest.check(hub, checked)
    assert checked_rows.read_bytes() == stored  # the same rows, made again
    done = ingest.publish(hub, ingest.merge(hub, checked))
    assert done["status"] == "published"
    assert (
        done["rows_in"]
        == done["rows_accepted"] + done["rows_quarantined"]
        == synth.rows["ps_household"]
    )


@pytest.mark.parametrize("old", ["accepted.arrow", "accepted.parquet"])
def test_a_run_checked_before_the_checked_rows_file_merges_the_same(
    tmp_path: Path, synth: SynthResult, old: str
) -> None:
    """Runs checked by an earlier version left only their accepted rows (an Arrow IPC file, or
    before that Parquet); the merge still takes them, to the same library."""
    import pyarrow.compute as pc

    from pipeline import steps as ingest

    path = synth.files["ps_household"]
    now = ingest_services(Settings(home=tmp_path / "now"))
    run_pipeline(
        now,
        "ps_household",
        path.read_bytes(),
        path.name,
        received_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    before = ingest_services(Settings(home=tmp_path / "before"))
    ref = ingest.land(
        before, "ps_household", path.read_bytes(), path.name, datetime(2026, 1, 5, tzinfo=UTC)
    )
    ref = ingest.quarantine(before, ingest.check(before, ref))
    work = tmp_path / "before" / "objects" / "work" / ref["run_id"]
    checked = load_table(before.objects, ref["checked_key"])
    accepted = checked.filter(checked["_accepted"]).drop_columns(["_accepted"])
    assert accepted.num_rows == ref["rows_accepted"] < checked.num_rows
    write = arrow_bytes if old.endswith(".arrow") else parquet_bytes
    (work / old).write_bytes(write(accepted))
    (work / "checked.arrow").unlink()
    done = ingest.publish(before, ingest.merge(before, ref))
    assert done["facts"] == now.library.fact_count() > 0
    assert before.library.golden_snapshot() == now.library.golden_snapshot()
    assert pc.sum(checked["_accepted"]).as_py() == ref["rows_accepted"]


def test_authoritative_source_wins_over_newer_department(
    hub: IngestServices, synth: SynthResult
) -> None:
    path = synth.files["ps_household"]
    t0 = datetime.now(UTC) - timedelta(days=1)
    run_pipeline(hub, "ps_household", path.read_bytes(), path.name, received_at=t0)
    pid = hub.library.subjects("population")[0]
    rec = hub.library.person(pid)
    assert rec is not None
    name = rec.value("name")
    assert name is not None
    line = {
        "id_number": pid,
        "name": name + "某",
        "insurance_status": "1",
        "mobile": "13912345678",
        "status_since": datetime.now(UTC).date().isoformat(),
    }
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    ref = run_pipeline(hub, "hrss_insurance", data, "hrss.jsonl")
    assert ref["rows_accepted"] == 1
    rec = hub.library.person(pid)
    assert rec is not None
    assert rec.value("name") == name  # household registration is authoritative for names
    assert rec.fields["social_insurance_status"].dataset == "hrss_insurance"
    assert rec.value("mobile") == "13912345678"  # nobody is authoritative: newest wins
    assert [f.dataset for f in rec.history["name"]] == ["ps_household", "hrss_insurance"]
    before = hub.library.person(pid, as_of=t0.date() - timedelta(days=1))
    assert before is None


def test_killed_mid_merge_reruns_to_same_state(
    settings: Settings, synth: SynthResult, tmp_path: Path
) -> None:
    path = synth.files["ps_household"]
    received = "2026-01-01T00:00:00+00:00"
    script = textwrap.dedent(
        f"""
        import os, signal
        from datetime import datetime
        from pathlib import Path
        from hub.wiring import ingest_services
        from pipeline.services import IngestServices
        from pipeline.land import land
        from pipeline.check import check
        from pipeline.merge import merge
        from hub.settings import Settings
        hub = ingest_services(Settings(home=Path({str(settings.home)!r})))
        data = Path({str(path)!r}).read_bytes()
        ref = land(hub, "ps_household", data, "f.csv", datetime.fromisoformat({received!r}))
        ref = check(hub, ref)
        merge(hub, ref, after_facts=lambda: os.kill(os.getpid(), signal.SIGKILL))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    hub = ingest_services(settings)
    assert hub.library.fact_count() == 0  # the killed transaction left nothing
    assert hub.library.list_runs()[0]["status"] == "checked"
    when = datetime.fromisoformat(received)
    ref = run_pipeline(hub, "ps_household", path.read_bytes(), "f.csv", received_at=when)
    assert ref["status"] == "published"

    clean = ingest_services(Settings(home=tmp_path / "clean"))
    run_pipeline(clean, "ps_household", path.read_bytes(), "f.csv", received_at=when)
    assert hub.library.golden_snapshot() == clean.library.golden_snapshot()
    assert hub.library.fact_count() == clean.library.fact_count()


def test_quarantine_resubmit_after_correction(hub: IngestServices, synth: SynthResult) -> None:
    path = synth.files["ps_household"]
    first = run_pipeline(hub, "ps_household", path.read_bytes(), path.name)
    q = hub.library.list_quarantine("ps_household")[0]
    lines = export_quarantine(hub, q["run_id"]).decode("utf-8-sig").splitlines()
    # the steward fixes nothing but resubmits: same reasons again, still nothing lost
    ref = resubmit(hub, q["run_id"], ("\n".join(lines) + "\n").encode("utf-8-sig"))
    assert ref["rows_in"] == first["rows_quarantined"]
    assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    assert hub.library.list_quarantine("ps_household")[0]["resubmitted_as"] == ref["run_id"]


def test_cross_checks_report_unknown_representatives(
    hub: IngestServices, synth: SynthResult
) -> None:
    _ingest_all(hub, synth)
    report = cross_checks(hub)
    assert report["entities_checked"] > 0
    assert report["birth_date_mismatch"] == 0 and report["sex_mismatch"] == 0
    # representatives the generator made up are reported, and their entities kept
    for uscc_code in report["legal_rep_unmatched_entities"]:
        assert hub.library.entity(uscc_code) is not None


def test_threshold_breach_stops_before_merge(hub: IngestServices, tmp_path: Path) -> None:
    from quality.metrics import QualityBreachError

    dirty = generate(tmp_path / "dirty", persons=100, entities=5, seed=1, dirt=0.3)
    path = dirty.files["ps_household"]
    with pytest.raises(QualityBreachError, match="ps_household"):
        run_pipeline(hub, "ps_household", path.read_bytes(), path.name)
    (run,) = hub.library.list_runs()
    assert run["status"] == "failed" and run["rows_quarantined"] > 0
    assert hub.library.fact_count() == 0
    assert hub.library.list_quarantine("ps_household")  # the bad rows are kept for stewards


@pytest.mark.services
def test_pipeline_on_postgresql_and_minio(tmp_path: Path, synth: SynthResult) -> None:
    """The production back ends: same pipeline, same invariants, idempotent re-run."""
    env: dict[str, str] = {}
    path = REPO / "var" / "services" / "env"
    if not path.exists():
        pytest.fail("services not running: `make services-up` writes var/services/env")
    for line in path.read_text().splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k.strip()] = v.strip().strip("'\"")
    from storage.library import metadata

    s = Settings(
        home=tmp_path / "hub",
        # this session's own database: the services' hub database belongs to the scheduler
        database_url=session_database_url(),
        objects="minio",
        minio_endpoint=env["HUB_MINIO_ENDPOINT"],
        minio_access_key=env["HUB_MINIO_ACCESS_KEY"],
        minio_secret_key=env["HUB_MINIO_SECRET_KEY"],
    )
    hub = ingest_services(s)
    metadata.drop_all(hub.library.engine)
    metadata.create_all(hub.library.engine)
    f = synth.files["ps_household"]
    ref = run_pipeline(hub, "ps_household", f.read_bytes(), f.name)
    assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    snap = hub.library.golden_snapshot()
    again = run_pipeline(hub, "ps_household", f.read_bytes(), f.name)
    assert again["message"] == "already ingested: nothing changed"
    assert hub.library.golden_snapshot() == snap
    metadata.drop_all(hub.library.engine)
