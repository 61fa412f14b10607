"""A dispute round trip: an approval system disputes a field it reads, the authoritative
department sees it, readers see the field marked disputed until the department answers or
delivers a correction."""

from __future__ import annotations

import datetime as dt

from storage.findings import DisputeStore
from storage.library import POPULATION, engine_for
from tests.sharing.catalog_kit import DATASET, PURPOSE, UNTIL, Hub, hub

__all__ = ["hub"]  # fixture
PUBLISHING = "household-publishing"


def _setup(hub: Hub) -> str:
    hub.clients.grant("approvals", "population", PURPOSE, UNTIL, ["name", "sex"])
    hub.clients.grant("stranger", "datasets", PUBLISHING, UNTIL, [DATASET])  # 公安's client
    return str(hub.ingest.library.subjects(POPULATION)[0])


def _dispute(hub: Hub, subject: str, client: str = "approvals", field: str = "name") -> object:
    return hub.http.post(
        "/v1/disputes",
        json={
            "subject": subject,
            "field": field,
            "claimed_value": "王小明",
            "evidence": "户口簿 page 2",
        },
        headers={"Authorization": f"Bearer {hub.keys[client]}"},
    )


def _name(hub: Hub, subject: str) -> dict[str, object]:
    got = hub.http.get(f"/v1/persons/{subject}", headers=hub.headers("approvals"))
    assert got.status_code == 200, got.text
    return dict(got.json()["fields"]["name"])


def test_a_dispute_marks_the_field_until_the_department_answers(hub: Hub) -> None:
    subject = _setup(hub)
    assert "disputed" not in _name(hub, subject)
    filed = _dispute(hub, subject)
    assert filed.status_code == 201, filed.text  # type: ignore[attr-defined]
    dispute = filed.json()  # type: ignore[attr-defined]
    assert dispute["department"].startswith("省公安厅") and dispute["status"] == "open"
    assert _name(hub, subject)["disputed"] is True
    assert (
        "disputed"
        not in hub.http.get(f"/v1/persons/{subject}", headers=hub.headers("approvals")).json()[
            "fields"
        ]["sex"]
    )
    seen = hub.http.get("/v1/disputes", headers=hub.headers("stranger", PUBLISHING))
    assert seen.status_code == 200 and [d["dispute_id"] for d in seen.json()] == [
        dispute["dispute_id"]
    ]
    answered = hub.http.post(
        f"/v1/disputes/{dispute['dispute_id']}/answer",
        json={"answer": "户籍登记姓名无误"},
        headers=hub.headers("stranger", PUBLISHING),
    )
    assert answered.status_code == 200 and answered.json()["closed_by"] == "answer"
    assert "disputed" not in _name(hub, subject)


def test_the_departments_next_delivery_closes_a_dispute(hub: Hub) -> None:
    subject = _setup(hub)
    dispute = _dispute(hub, subject).json()  # type: ignore[attr-defined]
    assert _name(hub, subject)["disputed"] is True
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    hub.ingest.library.merge(
        POPULATION, f"{DATASET}-fix", DATASET, when, [subject], {"name": ["王小明"]}, ["name"]
    )
    assert "disputed" not in _name(hub, subject)  # at once, before anyone looks at disputes
    assert hub.http.get("/v1/disputes", headers=hub.headers("stranger", PUBLISHING)).json() == []
    row = DisputeStore(engine_for(hub.settings.db_url)).get(dispute["dispute_id"])
    assert row is not None and row["closed_by"] == "delivery"


def test_only_readers_of_the_field_dispute_it_and_only_its_department_sees_it(hub: Hub) -> None:
    subject = _setup(hub)
    assert _dispute(hub, subject, client="stranger").status_code == 403  # type: ignore[attr-defined]
    unknown = _dispute(hub, subject, field="nickname")
    assert unknown.status_code == 422 and "nickname" in unknown.text  # type: ignore[attr-defined]
    assert _dispute(hub, subject).status_code == 201  # type: ignore[attr-defined]
    hub.clients.grant("approvals", "datasets", PUBLISHING, UNTIL, ["hrss_insurance"])
    hub.served_clients().invalidate()  # granted through another store than the server's
    other = hub.http.get("/v1/disputes", headers=hub.headers("approvals", PUBLISHING))
    assert other.status_code == 200 and other.json() == []
