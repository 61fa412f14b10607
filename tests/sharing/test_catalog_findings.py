"""Cross-source findings are stored with their evidence for the field's authoritative
department, shown to that department only, and closed when a later delivery corrects them."""

from __future__ import annotations

import datetime as dt

from pipeline.cross_checks import cross_checks
from storage.library import POPULATION
from tests.sharing.catalog_kit import DATASET, UNTIL, Hub, hub

__all__ = ["hub"]  # fixture
PUBLISHING = "household-publishing"


def _deliver_birth_date(hub: Hub, subject: str, value: str, run: str, day: int) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=day)  # later than the delivery
    hub.ingest.library.merge(
        POPULATION, run, DATASET, when, [subject], {"birth_date": [value]}, ["birth_date"]
    )


def test_a_finding_reaches_the_authoritative_department_only_and_closes(hub: Hub) -> None:
    subject = hub.ingest.library.subjects(POPULATION)[0]
    right = f"{subject[6:10]}-{subject[10:12]}-{subject[12:14]}"
    _deliver_birth_date(hub, subject, "1901-01-01", f"{DATASET}-late1", 2)
    report = cross_checks(hub.ingest)
    assert report["birth_date_mismatch"] >= 1 and report["findings_opened"] >= 1
    hub.clients.grant("approvals", "datasets", PUBLISHING, UNTIL, [DATASET])  # 公安
    hub.clients.grant("stranger", "datasets", PUBLISHING, UNTIL, ["hrss_insurance"])  # 人社
    mine = hub.http.get("/v1/findings", headers=hub.headers("approvals", PUBLISHING))
    assert mine.status_code == 200, mine.text
    (finding,) = [f for f in mine.json() if f["subject"] == subject]
    assert finding["kind"] == "birth_date_vs_id" and finding["field"] == "birth_date"
    assert finding["evidence"] == {"golden": "1901-01-01", "from_id_number": right}
    assert finding["department"].startswith("省公安厅") and finding["status"] == "open"
    other = hub.http.get("/v1/findings", headers=hub.headers("stranger", PUBLISHING))
    assert other.status_code == 200 and subject not in other.text
    # the same check again opens nothing twice
    assert cross_checks(hub.ingest)["findings_opened"] == 0
    # a later delivery corrects it: the finding closes
    _deliver_birth_date(hub, subject, right, f"{DATASET}-late2", 3)
    assert cross_checks(hub.ingest)["findings_closed"] >= 1
    still = hub.http.get("/v1/findings", headers=hub.headers("approvals", PUBLISHING)).json()
    assert subject not in {f["subject"] for f in still}
    closed = hub.http.get(
        "/v1/findings?status=closed", headers=hub.headers("approvals", PUBLISHING)
    ).json()
    (done,) = [f for f in closed if f["subject"] == subject]
    assert done["closed_at"] is not None
