"""Services tier, end to end (issue 11): a department file uploaded through the API lands in MinIO,
the loopback Airflow scheduler runs ``ingest_ps_household`` on the hub's edge workers, the
PostgreSQL library gains the file's persons, a licence issued to one of them verifies
TOTAL_PASSED, and once revoked verifies TOTAL_FAILED with the revocation reason.

The scheduler's tasks write to the services' ``hub`` database (``var/services/airflow.env``), so
this test uses that database and the same HUB_HOME (its key files belong with that database's
ledger and seals) rather than a per-session database. Each run uploads a new file (new seed), so
its ingest run is always new.

The licence is stored in MinIO's object-locked ``licences`` bucket (COMPLIANCE retention): the
test checks that its version cannot be deleted.

Anchoring: the licence service's ledger anchors its checkpoints on the local Fabric network
(``HUB_LEDGER_ANCHOR=fabric``, scripts/fabric.sh), and the verifier reads the anchoring
transaction back from the chain.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from fabrickit import fabric_settings
from fastapi.testclient import TestClient
from minio import Minio
from minio.error import S3Error
from servicekit import (
    airflow_task_states,
    household_publisher,
    scheduler_settings,
    upload_household,
    wait_for_run,
)

from hub.wiring import api_app

pytestmark = pytest.mark.services

HUAINAN_HR = "11340400MB12355653"  # 淮南市人力资源和社会保障局 (licence/authorities.yaml)
RUN_TIMEOUT = 300.0  # seconds for the scheduler to publish the run


def test_upload_to_scheduler_to_licence_verified_then_revoked(
    tmp_path: Path, fabric_network: dict[str, str]
) -> None:
    from hub.commands.licence import open_service
    from hub.synth import generate
    from ledger.receipt import Receipt
    from licence.receipts import ledger_receipts
    from licence.trust import export_bundle, offline_context, online_context
    from licence.verify import TOTAL_FAILED, TOTAL_PASSED, verify
    from storage.library import POPULATION

    settings = scheduler_settings()
    files = generate(tmp_path / "synth", persons=50, entities=2, dirt=0.0, seed=time.time_ns())
    data = files.files["ps_household"].read_bytes()

    # --- a department system uploads its file through the API ---------------------------------
    app = api_app(settings, background=False)
    headers = household_publisher(app, "e2e")
    with TestClient(app) as http:
        upload = upload_household(http, headers, data)
        run_id = upload["run_id"]
        # --- the scheduler runs the DAG; the run is followed through the API -----------------
        run = wait_for_run(http, headers, run_id, RUN_TIMEOUT)
    assert run["status"] == "published", (
        f"run {run_id} is {run['status']!r} after {RUN_TIMEOUT:.0f}s "
        f"(Airflow DAG run {upload['dag_run_id']}): {run.get('message')}"
    )
    assert run["rows_in"] == 50 and run["rows_accepted"] == 50 and run["rows_quarantined"] == 0

    # --- it was the scheduler that ran it: the Airflow DAG run and its six tasks succeeded ------
    tasks = airflow_task_states(settings, upload["dag_run_id"])
    assert tasks == {t: "success" for t in ("land", "check", "quarantine", "merge", "publish")}, (
        tasks
    )

    # --- the raw file landed in MinIO (read back with MinIO's own client, not our adapter) ----
    landed = app.state.hub.library.get_run(run_id)
    minio = Minio(
        settings.minio_endpoint,
        access_key=settings.minio_access_key,
        secret_key=settings.minio_secret_key,
        secure=False,
    )
    # in the object-locked `landing` bucket
    assert minio.get_object_retention("landing", landed["object_key"]).mode == "COMPLIANCE"
    obj = minio.get_object("landing", landed["object_key"])
    try:
        assert obj.read() == data
    finally:
        obj.close()
        obj.release_conn()

    # --- the PostgreSQL library has the file's persons -----------------------------------------
    library = app.state.hub.library
    from_this_file = []
    for pid in library.subjects(POPULATION):
        rec = library.person(pid)
        fact = rec.fields.get("name") if rec else None
        if fact is not None and fact.run_id == run_id:
            from_this_file.append((pid, fact.value))
    assert len(from_this_file) == 50
    holder_id, holder_name = from_this_file[0]

    # --- a licence to one of them: issued, sequenced, receipt attached, verified ---------------
    from licence.issuance import Holder

    svc = open_service(settings.model_copy(update=fabric_settings(fabric_network)))
    svc.ensure_ca()
    if svc.store.active_seal(HUAINAN_HR, dt.datetime.now(dt.UTC)) is None:
        svc.create_seal(HUAINAN_HR)
    doc = svc.issue(
        "professional_qualification",
        HUAINAN_HR,
        Holder(holder_id, holder_name),
        {
            "occupation": "电工",
            "level": "四级/中级工",
            "certificate_number": f"E2E{time.time_ns() % 10**15:015d}",
            "assessed_on": "2025-06-30",
        },
    )
    lid = doc["header"]["licence_id"]
    # stored write-once in the object-locked `licences` bucket: its version cannot be deleted
    key = svc.store.licence(lid)["object_key"]
    assert minio.get_object_retention("licences", key).mode == "COMPLIANCE"
    version = minio.stat_object("licences", key).version_id
    with pytest.raises(S3Error):
        minio.remove_object("licences", key, version_id=version)
    obj = minio.get_object("licences", key)
    try:
        assert obj.read() == svc.objects.get(key)
    finally:
        obj.close()
        obj.release_conn()
    checkpoint = svc.ledger.sequence()
    assert checkpoint is not None and checkpoint.anchor is not None, "checkpoint not anchored"
    assert checkpoint.anchor.backend == "fabric" and checkpoint.anchor.block is not None
    assert svc.attach_receipts(ledger_receipts(svc.ledger)) >= 1
    receipt_obj = svc.receipt(lid)
    assert receipt_obj is not None, "no receipt attached after sequencing"
    report = verify(svc.document(lid), Receipt.from_dict(receipt_obj), online_context(svc))
    assert report.verdict == TOTAL_PASSED, report.to_text()
    anchored = next(c for c in report.checks if c.check == "anchor")
    assert anchored.status == "PASSED" and "fabric" in anchored.en, report.to_text()
    # offline, at a service window: the trust bundle carries the Fabric transaction as recorded
    bundle = json.loads(json.dumps(export_bundle(svc)))
    offline = verify(
        svc.document(lid),
        Receipt.from_dict(receipt_obj),
        offline_context(bundle, [svc.ledger.verifier_key()]),
    )
    assert offline.verdict == TOTAL_PASSED, offline.to_text()
    assert next(c for c in offline.checks if c.check == "anchor").status == "PASSED"

    # --- revoked: TOTAL_FAILED, reason REVOKED, the revocation reason in the explanation ------
    reason = "以欺骗手段取得证书 / obtained by deception (e2e)"
    svc.revoke(lid, "FRAUD", reason)
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    receipt_obj = svc.receipt(lid)
    report = verify(
        svc.document(lid),
        Receipt.from_dict(receipt_obj) if receipt_obj else None,
        online_context(svc),
    )
    assert report.verdict == TOTAL_FAILED, report.to_text()
    assert report.sub_indication == "REVOKED", report.to_text()
    failed = report.failed()
    assert [c.reason for c in failed] == ["REVOKED"], report.to_text()
    assert reason in failed[0].en and "FRAUD" in failed[0].en
    assert reason in failed[0].zh
