"""The values corpus (``corpus_values.py``) through the real pipeline on the embedded default:
land → check → quarantine → merge → publish, each case with its exact outcome.

For every file: the counts balance against the file's own rows, the quarantined rows are exactly
the expected ones with exactly the expected reason codes (nothing dropped silently), and the
library holds the expected values for the accepted rows, identifiers in canonical form."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub.settings import Settings
from hub.wiring import ingest_services
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from schemas.contracts import CONTRACTS_DIR
from tests.ingest import corpus_values
from tests.ingest.corpus_values import Case, Deliveries

LIBRARY = {"ps_household": "population", "corpus_contacts": "population"}


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> IngestServices:
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    (folder / "corpus_contacts.yaml").write_text(corpus_values.CONTACTS_CONTRACT, encoding="utf-8")
    return ingest_services(settings, folder)


def _quarantined(hub: IngestServices, run_id: str) -> dict[int, tuple[str, ...]]:
    """Data row -> reason codes of a run's quarantine file."""
    found = [q for q in hub.library.list_quarantine() if q["run_id"] == run_id]
    if not found:
        return {}
    (entry,) = found
    table = pq.read_table(io.BytesIO(hub.objects.get(entry["object_key"])))
    return {
        int(row): tuple(reasons)
        for row, reasons in zip(
            table["_row"].to_pylist(), table["_reasons"].to_pylist(), strict=True
        )
    }


def _record(hub: IngestServices, dataset: str, subject: str) -> dict[str, str | None]:
    library = LIBRARY.get(dataset, "legal-entity")
    record = hub.library.record(library, subject)
    assert record is not None, f"{subject} is not in the {library} library"
    key_field = "uscc" if library == "legal-entity" else "id_number"
    # the key is stored as the subject itself
    return {name: fact.value for name, fact in record.fields.items()} | {key_field: record.subject}


def _ingest(hub: IngestServices, case: Case) -> dict[str, object]:
    ref = run_pipeline(hub, case.dataset, case.data(), case.filename, fail_on_breach=False)
    assert ref["status"] == "published"
    rows_in = case.data().decode(corpus_values.ENCODING[case.dataset]).count("\r\n") - 1
    assert ref["rows_in"] == rows_in == len(case.rows)  # no row lost or merged while reading
    assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    assert ref["rows_accepted"] == case.accepted
    assert _quarantined(hub, str(ref["run_id"])) == case.quarantined
    for subject, values in case.stored.items():
        record = _record(hub, case.dataset, subject)
        assert {k: record.get(k) for k in values} == values
    return ref


def test_a_line_break_inside_a_csv_value_refuses_the_file(hub: IngestServices) -> None:
    """A formula hidden behind a leading CR (OWASP) cannot reach the rule engine from a CSV: the
    quoted CR is a line break inside a value, which refuses the file at its line (rows are
    never joined); nothing of the file is merged."""
    case = Case("leading_cr", "corpus_contacts", (corpus_values.contact(30, address="\r=1+1"),))
    with pytest.raises(Exception, match=r"line 2: a quoted value is not closed on its line"):
        run_pipeline(hub, case.dataset, case.data(), case.filename, fail_on_breach=False)
    (run,) = hub.library.list_runs()
    assert run["status"] == "failed"
    assert hub.library.subjects("population") == []


@pytest.mark.parametrize("case", corpus_values.cases(), ids=lambda c: f"class{c.klass}-{c.name}")
def test_corpus_case(hub: IngestServices, case: Case) -> None:
    _ingest(hub, case)
    library = LIBRARY.get(case.dataset, "legal-entity")
    subjects = hub.library.subjects(library)
    # every subject the library holds is a canonical identifier: ASCII, upper case, 18 long
    assert all(len(s) == 18 and s.isascii() and s == s.upper() for s in subjects), subjects
    # the accepted rows reached the library, the quarantined ones did not
    assert len(subjects) == len(
        {_key(case, r) for i, r in enumerate(case.rows) if i not in case.quarantined}
    )


def _key(case: Case, row: dict[str, str]) -> str:
    from schemas.library import subject_key

    column = "uscc" if case.dataset == "mr_enterprise" else "id_number"
    return subject_key(LIBRARY.get(case.dataset, "legal-entity"), row[column])


@pytest.mark.parametrize("run", corpus_values.deliveries(), ids=lambda d: d.name)
def test_later_delivery_reaches_the_same_subject(hub: IngestServices, run: Deliveries) -> None:
    refs = [_ingest(hub, case) for case in run.files]
    library = LIBRARY.get(run.dataset, "legal-entity")
    assert tuple(hub.library.subjects(library)) == run.subjects
    for subject, values in run.stored.items():
        record = _record(hub, run.dataset, subject)
        assert {k: record.get(k) for k in values} == values
    # a re-delivery of the last file changes nothing
    snapshot, facts = hub.library.golden_snapshot(), hub.library.fact_count()
    last = run.files[-1]
    again = run_pipeline(hub, last.dataset, last.data(), "again.csv", fail_on_breach=False)
    assert again["run_id"] == refs[-1]["run_id"]
    assert again["message"] == "already ingested: nothing changed"
    assert hub.library.golden_snapshot() == snapshot and hub.library.fact_count() == facts


def test_corpus_files_are_written_for_a_look(tmp_path: Path) -> None:
    paths = corpus_values.write(tmp_path)
    assert len(paths) == len(corpus_values.cases())
    assert all(p.read_bytes().startswith((b"id_number,", b"\xef\xbb\xbfuscc,")) for p in paths)
