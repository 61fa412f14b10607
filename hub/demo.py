"""The main job in one command: a city's departments to verified licences (``make demo``).

Generates Huainan's department files, ingests every dataset into the libraries, issues sealed
licences to holders found there, sequences them into the Merkle log, revokes one, and verifies a
valid, a tampered and a revoked licence. Re-running is safe: ingested files are recognised by
their hash and licences already issued by an earlier run are reused.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (fd level: Airflow's loggers too) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with log.open("ab") as fh:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _written_encoding(encoding: str) -> str:
    return {"auto": "GB18030", "gb18030": "GB18030"}.get(encoding, encoding.upper())


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "█" * filled + "·" * (width - filled) + f"] {done}/{total}"


def _finished_run(hub: Any, dataset: str, path: Path) -> dict[str, Any] | None:
    """The finished run of this exact file, if an earlier demo ingested it."""
    from storage.objects import sha256_hex

    run = hub.library.find_run(dataset, sha256_hex(path.read_bytes()))
    return run if run is not None and run.get("rows_in") is not None else None


def _ingest_with_airflow(settings: Settings, files: dict[str, Path]) -> dict[str, Any]:
    """Each file through its ``ingest_<dataset>`` DAG (``dag.test()``, the Airflow task runner
    in this process, metadata in SQLite under HUB_HOME); Airflow's own log goes to a file."""
    from hub import airflow_env
    from hub.wiring import ingest_services
    from storage.objects import sha256_hex

    logs = settings.home / "demo" / "logs"
    if not (settings.airflow_path / "airflow.db").exists():
        print("   creating Airflow's metadata database (first run only)", flush=True)
        airflow_env.migrate(settings)
    hub = ingest_services(settings)
    runs: dict[str, Any] = {}
    for i, (ds, path) in enumerate(sorted(files.items())):
        t = time.perf_counter()
        done = _finished_run(hub, ds, path)
        if done is not None:
            runs[ds] = done
            print(f"   {_bar(i + 1, len(files))}  {ds}: already ingested, unchanged", flush=True)
            continue
        with _output_to(logs / f"airflow-{ds}.log"):
            out = airflow_env.run_dag_test(settings, ds, path)
        run = out["run"] or hub.library.find_run(ds, sha256_hex(path.read_bytes()))
        runs[ds] = {**(run or {}), "dag_run_state": out["dag_run_state"]}
        print(
            f"   {_bar(i + 1, len(files))}  ingest_{ds}: {out['dag_run_state']} "
            f"({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    print(f"   Airflow task logs: {logs}")
    return runs


def _ingest_in_process(settings: Settings, files: dict[str, Path]) -> dict[str, Any]:
    """The same task functions the DAGs call, run here one after another (no Airflow)."""
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline
    from quality.metrics import QualityBreachError
    from storage.objects import sha256_hex

    hub = ingest_services(settings)
    runs: dict[str, Any] = {}
    for i, (ds, path) in enumerate(sorted(files.items())):
        try:  # the contract decides whether a quality breach fails the run, as in the DAG
            ref = run_pipeline(hub, ds, path.read_bytes(), path.name)
        except QualityBreachError as exc:
            runs[ds] = hub.library.find_run(ds, sha256_hex(path.read_bytes())) or {}
            print(f"   {_bar(i + 1, len(files))}  {ds}: failed ({exc})", flush=True)
            continue
        runs[ds] = {**hub.library.get_run(ref["run_id"]), **ref}
        again = ", already ingested, unchanged" if ref.get("already_done") else ""
        print(f"   {_bar(i + 1, len(files))}  {ds}{again}", flush=True)
    return runs


def ingest_departments(
    settings: Settings, persons: int, entities: int, *, airflow: bool = True
) -> dict[str, Any]:
    """Generate and ingest every department file; returns per-dataset run summaries."""
    from hub.synth import SynthResult, generate
    from hub.wiring import ingest_services
    from pipeline.cross_checks import cross_checks
    from quality.charts import scorecard_table
    from quality.metrics import scorecard
    from storage.library import engine_for

    hub = ingest_services(settings)
    t = _step(f"generating Huainan (3404): {persons:,} persons, {entities:,} entities")
    out = settings.home / "demo" / "departments"
    manifest = out / "manifest.json"
    wanted = {"city": "3404", "persons": persons, "entities": entities, "seed": 3404}
    if manifest.exists() and json.loads(manifest.read_text())["args"] == wanted:
        # XLSX files embed their creation time: regenerating would be a new delivery
        saved = json.loads(manifest.read_text())
        synth = SynthResult(
            {ds: out / name for ds, name in saved["files"].items()}, saved["rows"], saved["dirty"]
        )
        print("   files from an earlier run reused (same city, sizes and seed)")
    else:
        synth = generate(out, city="3404", persons=persons, entities=entities, seed=3404)
        manifest.write_text(
            json.dumps(
                {
                    "args": wanted,
                    "files": {ds: p.name for ds, p in synth.files.items()},
                    "rows": synth.rows,
                    "dirty": synth.dirty,
                }
            )
        )
    for ds, path in sorted(synth.files.items()):
        contract = hub.contract(ds)
        print(
            f"   {ds:<20} {synth.rows[ds]:>8,} rows {synth.dirty[ds]:>6,} dirty  "
            f"{path.name:<24} {_written_encoding(contract.encoding):<8} {contract.department}"
        )
    _done(t)
    how = "through Airflow (one ingest_<dataset> DAG each)" if airflow else "in process"
    t = _step(f"ingesting {how}: land → check → quarantine → merge → publish")
    runs = (_ingest_with_airflow if airflow else _ingest_in_process)(settings, synth.files)
    print(f"\n   {'dataset':<20} {'rows in':>8} {'accepted':>9} {'quarantined':>11}  status")
    for ds, run in sorted(runs.items()):
        if run.get("rows_in") is None:
            raise RuntimeError(f"ingest of {ds} did not finish: {run.get('message')}")
        assert run["rows_in"] == run["rows_accepted"] + run["rows_quarantined"]
        print(
            f"   {ds:<20} {run['rows_in']:>8,} {run['rows_accepted']:>9,} "
            f"{run['rows_quarantined']:>11,}  {run['status']}"
        )
    print("\n   quality scorecard (GB/T 36344 dimensions; `hub quality report` shows the history)")
    latest = {r["dataset"]: r for r in scorecard(engine_for(settings.db_url))}
    print("   " + scorecard_table(list(latest.values())).replace("\n", "\n   "))
    _done(t)
    t = _step("cross-source checks")
    found = cross_checks(hub)
    for key, value in found.items():
        if isinstance(value, int):
            print(f"   {key:<32} {value:>8,}")
    _done(t)
    return {"hub": hub, "summaries": runs, "cross_checks": found}


def build_data_docs(settings: Settings) -> list[str]:
    """Validate the library tables with Great Expectations and build the Data Docs."""
    from quality import gx
    from storage.library import subject_queries

    t = _step("Great Expectations: library validation and Data Docs")
    with _output_to(settings.home / "demo" / "logs" / "gx.log"):
        gx.checkpoint_library(settings, subject_queries())
        sites = list(gx.build_docs(settings))
    for where in sites:
        print(f"   Data Docs: {where}")
    _done(t)
    return [str(w) for w in sites]


PERSON_FIELDS = ("name", "sex", "birth_date", "household_address")
ENTITY_FIELDS = ("entity_name", "legal_rep_name", "established_date", "registered_address")
ENTITY_FIELDS += ("business_scope",)
# the mix of licences the demo issues, per hundred holders: every kind of enterprise licence and
# every licence people hold, in rough proportion to how often they are shown
ENTITY_MIX = [
    ("business_licence", 50),
    ("food_business_permit", 20),
    ("drug_business_licence", 8),
    ("construction_qualification", 8),
    ("road_transport_permit", 7),
    ("pollutant_discharge_permit", 7),
]
PERSON_MIX = [
    ("social_security_card", 25),
    ("household_register", 20),
    ("marriage_certificate", 15),
    ("professional_qualification", 15),
    ("real_estate_certificate", 10),
    ("birth_medical_certificate", 5),
    ("disability_certificate", 5),
    ("divorce_certificate", 5),
]


def _mix(weights: list[tuple[str, int]], n: int) -> list[str]:
    """``n`` licence types in the proportions of ``weights``, interleaved (the first holders
    already get every type)."""
    total = sum(w for _, w in weights)
    out: list[str] = []
    given = dict.fromkeys((t for t, _ in weights), 0)
    for i in range(n):
        # the type furthest behind its share so far
        stem = max(weights, key=lambda tw: tw[1] * (i + 1) / total - given[tw[0]])[0]
        given[stem] += 1
        out.append(stem)
    return out


def _holders(
    hub: Any, count: int
) -> tuple[list[tuple[str, str, dict[str, Any]]], list[tuple[str, str, dict[str, Any]]]]:
    lib = hub.library
    entities = []
    for uscc in lib.subjects("legal-entity"):
        rec = lib.entity(uscc)
        if rec and rec.value("entity_name") and rec.value("legal_rep_name"):
            values = {f: rec.value(f) for f in ENTITY_FIELDS}
            entities.append((uscc, rec.value("entity_name") or "", values))
        if len(entities) == count:
            break
    persons = []
    for pid in lib.subjects("population"):
        rec = lib.person(pid)
        if rec and rec.value("name"):
            persons.append((pid, rec.value("name") or "", {f: rec.value(f) for f in PERSON_FIELDS}))
        if len(persons) == count:
            break
    return entities, persons


def issue_licences(settings: Settings, hub: Any, count: int) -> tuple[Any, list[str]]:
    """Seals for Huainan's authorities, then a mix of every licence type to entities and persons
    of the libraries (idempotent)."""
    from hub.wiring import licence_service
    from licence.issuance import Holder, IssueRequest
    from licence.receipts import anchor_and_attach
    from licence.samples import HUAINAN_ISSUERS, sample_fields

    svc = licence_service(settings)
    t = _step("platform CA and seals")
    svc.ensure_ca()
    now = dt.datetime.now(dt.UTC)
    for authority in dict.fromkeys(HUAINAN_ISSUERS.values()):
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
    t = _step(f"issuing {count} licences to enterprises and {count} to persons, of 14 types")
    entities, persons = _holders(hub, count)
    requests = []
    for i, ((uscc, name, rec), stem) in enumerate(
        zip(entities, _mix(ENTITY_MIX, len(entities)), strict=True)
    ):
        fields = sample_fields(stem, i, uscc, rec)
        requests.append(IssueRequest(stem, HUAINAN_ISSUERS[stem], Holder(uscc, name), fields))
    for i, ((pid, name, rec), stem) in enumerate(
        zip(persons, _mix(PERSON_MIX, len(persons)), strict=True)
    ):
        fields = sample_fields(stem, i, pid, rec)
        requests.append(IssueRequest(stem, HUAINAN_ISSUERS[stem], Holder(pid, name), fields))
    docs = svc.issue_many(requests)
    issued = [d["header"]["licence_id"] for d in docs]
    for lid in issued[:3]:
        print(f"   {lid}")
    print(f"   … {len(issued)} licences issued")
    _done(t)
    t = _step("sequencing the Merkle log and attaching receipts")
    done = anchor_and_attach(svc)
    print(f"   receipts attached: {done.attached}")
    if done.checkpoint is not None:
        print("   " + done.checkpoint.note.decode().replace("\n", "\n   ").rstrip())
    _done(t)
    state_file.write_text(json.dumps(issued))
    return svc, issued


def verify_three(settings: Settings, svc: Any, issued: list[str]) -> list[Any]:
    """A valid licence, a tampered copy and a revoked licence, each with its report."""
    from ledger.receipt import Receipt
    from licence.errors import LifecycleError
    from licence.receipts import anchor_and_attach
    from licence.trust import online_context
    from licence.verify import verify

    valid_id, revoked_id = issued[0], issued[1]
    t = _step("revoking one licence")
    try:
        svc.revoke(revoked_id, "FRAUD", "以欺骗手段取得许可 / obtained by deception")
        print(f"   revoked {revoked_id}")
    except LifecycleError:
        print(f"   {revoked_id} was revoked by an earlier run")
    anchor_and_attach(svc)
    _done(t)
    ctx = online_context(svc)
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


def verify_offline(settings: Settings, svc: Any, issued: list[str]) -> Any:
    """What a service window without a network does: install the hub's trust anchor once
    (`hub trust install`), take a signed trust bundle (`hub trust export`) and the licence
    with its receipt (`hub trust receipt`), and verify against the anchor, not the bundle."""
    from licence.trust import export_bundle, licence_with_receipt, load_bundle, offline_context
    from licence.trust_anchors import load_anchors, own_anchor, save_anchors
    from licence.verify import verify_input

    t = _step("verifying offline: trust anchor installed, signed trust bundle, no database")
    folder = settings.home / "demo" / "offline"
    folder.mkdir(parents=True, exist_ok=True)
    anchors = load_anchors(settings.trust_path).with_anchor(own_anchor(svc))
    print(f"   trust anchor installed: {save_anchors(settings.trust_path, anchors)}")
    bundle_file, licence_file = folder / "bundle.json", folder / "licence.json"
    bundle_file.write_text(json.dumps(export_bundle(svc), ensure_ascii=False), encoding="utf-8")
    pair = licence_with_receipt(svc, issued[0])
    licence_file.write_text(json.dumps(pair, ensure_ascii=False), encoding="utf-8")
    ctx = offline_context(load_bundle(bundle_file.read_bytes()), load_anchors(settings.trust_path))
    report = verify_input(licence_file.read_bytes(), ctx)
    print(f"   {licence_file} with {bundle_file}")
    print("   " + report.to_text().replace("\n", "\n   "))
    _done(t)
    return report


def write_pdfs(settings: Settings, svc: Any, issued: list[str], count: int = 3) -> list[Path]:
    import logging

    from licence.pdf import render_pdf

    # Airflow's logging set-up (imported for the ingest) lets fontTools narrate every subset
    logging.getLogger("fontTools").setLevel(logging.WARNING)

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
    settings: Settings,
    persons: int,
    entities: int,
    licences: int,
    pdfs: int,
    *,
    airflow: bool = True,
    data_docs: bool = True,
) -> dict[str, Any]:
    """The whole demo; returns what a test asserts on."""
    started = time.perf_counter()
    settings.ensure_dirs()
    (settings.home / "demo").mkdir(parents=True, exist_ok=True)
    ingest = ingest_departments(settings, persons, entities, airflow=airflow)
    docs = build_data_docs(settings) if data_docs else []
    svc, issued = issue_licences(settings, ingest["hub"], licences)
    reports = verify_three(settings, svc, issued)
    offline = verify_offline(settings, svc, issued)
    pdf_paths = write_pdfs(settings, svc, issued, pdfs)
    elapsed = time.perf_counter() - started
    hub = ".venv/bin/hub"
    base = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"""
== done in {elapsed:.0f} s — state under {settings.home} (re-running is safe)
   explore:
     {hub} runs                       ingest runs with counts
     {hub} quality report             the quality scorecard per department, with history
     {hub} library person <ID>        a golden record with each field's source
     {hub} quarantine list            rejected rows with their reasons
     {hub} licence show {issued[0]}
     {hub} ledger checkpoint          the latest signed checkpoint
     {hub} verify <licence.json|pdf>  an explained verdict (exit 0 passed, 1 failed)
     {hub} verify {settings.home / "demo" / "offline" / "licence.json"} --offline \\
         --trust {settings.home / "demo" / "offline" / "bundle.json"}
                                      offline, against the anchor `hub trust install` wrote
     {hub} serve                      the API and pages on {base}
         {base}/verify       drop a licence or paste a QR payload
         {base}/catalog      datasets, departments, latest runs, quality trend
         {base}/docs         the sharing API (OpenAPI); `hub client add` for a key
     make airflow                             the Airflow UI on http://127.0.0.1:8080
   sealed PDFs: {settings.home / "demo" / "pdf"}"""
    )
    return {
        "summaries": ingest["summaries"],
        "cross_checks": ingest["cross_checks"],
        "data_docs": docs,
        "issued": issued,
        "verdicts": [r.verdict for r in reports],
        "reports": reports,
        "offline": offline,
        "pdfs": pdf_paths,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--licences", type=int, default=50, help="of each kind")
    parser.add_argument("--pdfs", type=int, default=3)
    parser.add_argument(
        "--no-airflow",
        dest="airflow",
        action="store_false",
        help="run the DAGs' task functions in this process instead of through Airflow",
    )
    parser.add_argument(
        "--no-data-docs", dest="data_docs", action="store_false", help="skip Great Expectations"
    )
    args = parser.parse_args(argv)
    run(
        get_settings(),
        args.persons,
        args.entities,
        args.licences,
        args.pdfs,
        airflow=args.airflow,
        data_docs=args.data_docs,
    )


if __name__ == "__main__":
    main()
