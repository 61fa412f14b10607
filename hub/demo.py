"""The main job in one command: a city's departments to verified licences (``make demo``).

Generates Huainan's department files, ingests every dataset into the libraries, issues sealed
licences to holders found there, sequences them into the Merkle log, revokes one, and verifies a
valid, a tampered and a revoked licence. Re-running is safe: ingested files are recognised by
their hash and licences already issued by an earlier run are reused.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from hub.settings import Settings, get_settings

HUAINAN_MR = "11340400MB1234562J"  # 淮南市市场监督管理局
HUAINAN_HR = "11340400MB12355653"  # 淮南市人力资源和社会保障局


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)


def ingest_departments(settings: Settings, persons: int, entities: int) -> dict[str, Any]:
    """Generate and ingest every department file; returns per-dataset summaries."""
    from hub.ingest import Hub, cross_checks, run_pipeline
    from hub.synth import generate

    hub = Hub.open(settings)
    t = _step(f"generating Huainan (3404): {persons:,} persons, {entities:,} entities")
    out = settings.home / "demo" / "departments"
    synth = generate(out, city="3404", persons=persons, entities=entities, seed=3404)
    for ds, path in sorted(synth.files.items()):
        print(f"   {ds:<28} {synth.rows[ds]:>8,} rows  {synth.dirty[ds]:>6,} dirty  {path.name}")
    _done(t)
    t = _step("ingesting (land → read → check → quarantine → merge → publish)")
    print(f"   {'dataset':<28} {'in':>8} {'accepted':>9} {'quarantined':>11}  status")
    summaries = {}
    for ds, path in sorted(synth.files.items()):
        ref = run_pipeline(hub, ds, path.read_bytes(), path.name, fail_on_breach=False)
        summaries[ds] = ref
        assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
        print(
            f"   {ds:<28} {ref['rows_in']:>8,} {ref['rows_accepted']:>9,} "
            f"{ref['rows_quarantined']:>11,}  {ref.get('status', ref['message'])}"
        )
        metrics = ref.get("metrics") or {}
        if metrics:
            print("      " + "  ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items())))
    _done(t)
    t = _step("cross-source checks")
    print("   " + json.dumps(cross_checks(hub), ensure_ascii=False, default=str)[:300])
    _done(t)
    return {"hub": hub, "summaries": summaries}


def _holders(hub: Any, count: int) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str]]]:
    lib = hub.library
    entities = []
    for uscc in lib.subjects("legal-entity"):
        rec = lib.entity(uscc)
        if rec and rec.value("entity_name") and rec.value("legal_rep_name"):
            entities.append((uscc, rec.value("entity_name") or "", rec))
        if len(entities) == count:
            break
    persons = []
    for pid in lib.subjects("population"):
        rec = lib.person(pid)
        if rec and rec.value("name"):
            persons.append((pid, rec.value("name") or ""))
        if len(persons) == count:
            break
    return entities, persons


def issue_licences(settings: Settings, hub: Any, count: int) -> tuple[Any, list[str]]:
    """Seals for Huainan's authorities, then licences to entities and persons (idempotent)."""
    from hub.commands.licence import open_service
    from licence.service import Holder, IssueRequest, ledger_receipts

    svc = open_service(settings)
    t = _step("platform CA and seals")
    svc.ensure_ca()
    now = dt.datetime.now(dt.UTC)
    for authority in (HUAINAN_MR, HUAINAN_HR):
        if svc.store.active_seal(authority, now) is None:
            row = svc.create_seal(authority)
            print(f"   seal {row['seal_id']} created for {authority}")
        else:
            print(f"   active seal exists for {authority}")
    _done(t)
    state_file = settings.home / "demo" / "licences.json"
    if state_file.exists():
        issued: list[str] = json.loads(state_file.read_text())
        print(f"\n== licences issued by an earlier run reused: {len(issued)}")
        return svc, issued
    t = _step(f"issuing {count} business licences and {count} qualification certificates")
    entities, persons = _holders(hub, count)
    requests = [
        IssueRequest(
            "business_licence",
            HUAINAN_MR,
            Holder(uscc, name),
            {
                "entity_type": "有限责任公司（自然人投资或控股）",
                "legal_representative": rec.value("legal_rep_name") or "",
                "registered_capital": "人民币壹佰万元整",
                "established": rec.value("established_date") or "2020-01-01",
                "address": (rec.value("registered_address") or "安徽省淮南市")[:200],
                "business_scope": (rec.value("business_scope") or "一般项目：技术服务")[:2000],
            },
            None,
        )
        for uscc, name, rec in entities
    ]
    requests += [
        IssueRequest(
            "professional_qualification",
            HUAINAN_HR,
            Holder(pid, name),
            {
                "occupation": "电工",
                "level": "四级/中级工",
                "certificate_number": f"S{3404_0000_0000 + i:013d}",
                "assessed_on": "2025-06-30",
            },
            None,
        )
        for i, (pid, name) in enumerate(persons)
    ]
    docs = svc.issue_many(requests)
    issued = [d["header"]["licence_id"] for d in docs]
    for lid in issued[:3]:
        print(f"   {lid}")
    print(f"   … {len(issued)} licences issued")
    _done(t)
    t = _step("sequencing the Merkle log and attaching receipts")
    checkpoint = svc.ledger.sequence()
    attached = svc.attach_receipts(ledger_receipts(svc.ledger))
    print(f"   receipts attached: {attached}")
    if checkpoint is not None:
        print("   " + checkpoint.note.decode().replace("\n", "\n   ").rstrip())
    _done(t)
    state_file.write_text(json.dumps(issued))
    return svc, issued


def verify_three(settings: Settings, svc: Any, issued: list[str]) -> list[Any]:
    """A valid licence, a tampered copy and a revoked licence, each with its report."""
    from ledger.receipt import Receipt
    from licence.service import LifecycleError, ledger_receipts
    from licence.verify import VerifyContext, verify

    valid_id, revoked_id = issued[0], issued[1]
    t = _step("revoking one licence")
    try:
        svc.revoke(revoked_id, "FRAUD", "以欺骗手段取得许可 / obtained by deception")
        print(f"   revoked {revoked_id}")
    except LifecycleError:
        print(f"   {revoked_id} was revoked by an earlier run")
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    _done(t)
    ctx = VerifyContext(log_keys=[svc.ledger.verifier_key()], status_of=svc.store.licence)
    reports = []
    for label, lid, tamper in (
        ("valid licence", valid_id, False),
        ("tampered licence (legal representative changed)", valid_id, True),
        ("revoked licence", revoked_id, False),
    ):
        doc = svc.document(lid)
        if tamper:
            doc = copy.deepcopy(doc)
            doc["fields"]["legal_representative"]["value"] = "李四"
        receipt_obj = svc.receipt(lid)
        receipt = Receipt.from_dict(receipt_obj) if receipt_obj else None
        report = verify(doc, receipt, ctx)
        reports.append(report)
        print(f"\n== verifying the {label}\n   {lid}")
        print("   " + report.to_text().replace("\n", "\n   "))
    return reports


def write_pdfs(settings: Settings, svc: Any, issued: list[str], count: int = 3) -> list[Path]:
    from licence.service import render_pdf

    t = _step(f"writing {count} sealed PDFs (PAdES)")
    folder = settings.home / "demo" / "pdf"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for lid in issued[:count]:
        path = folder / f"{lid.split('.')[-3]}.pdf"
        if not path.exists():
            path.write_bytes(render_pdf(svc, lid, settings.home / "cache" / "fonts"))
        paths.append(path)
        print(f"   {path}")
    _done(t)
    return paths


def run(
    settings: Settings, persons: int, entities: int, licences: int, pdfs: int
) -> dict[str, Any]:
    """The whole demo; returns what a test asserts on."""
    started = time.perf_counter()
    settings.ensure_dirs()
    (settings.home / "demo").mkdir(parents=True, exist_ok=True)
    ingest = ingest_departments(settings, persons, entities)
    svc, issued = issue_licences(settings, ingest["hub"], licences)
    reports = verify_three(settings, svc, issued)
    pdf_paths = write_pdfs(settings, svc, issued, pdfs)
    elapsed = time.perf_counter() - started
    print(
        f"""
== done in {elapsed:.0f} s — state under {settings.home}
   explore:
     .venv/bin/hub runs                       ingest runs with counts
     .venv/bin/hub quality report             the quality scorecard per department
     .venv/bin/hub quality gx-docs            Great Expectations Data Docs under HUB_HOME
     .venv/bin/hub library person <ID>        a golden record with each field's source
     .venv/bin/hub licence show {issued[0]}
     .venv/bin/hub ledger checkpoint          the latest signed checkpoint
     make airflow                             the Airflow UI on http://127.0.0.1:8080
   sealed PDFs: {settings.home / "demo" / "pdf"}"""
    )
    return {
        "summaries": ingest["summaries"],
        "issued": issued,
        "verdicts": [r.verdict for r in reports],
        "reports": reports,
        "pdfs": pdf_paths,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--licences", type=int, default=50, help="of each kind")
    parser.add_argument("--pdfs", type=int, default=3)
    args = parser.parse_args(argv)
    run(get_settings(), args.persons, args.entities, args.licences, args.pdfs)


if __name__ == "__main__":
    main()
