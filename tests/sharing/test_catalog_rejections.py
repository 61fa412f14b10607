"""Rejected rows go back to the department that delivered them, and to nobody else."""

from __future__ import annotations

from tests.sharing.catalog_kit import DATASET, UNTIL, Hub, hub

__all__ = ["hub"]  # fixture
PUBLISHING = "household-publishing"


def test_the_publisher_reads_its_runs_rejected_rows_with_reasons(hub: Hub) -> None:
    (run,) = hub.ingest.library.list_runs(DATASET)
    assert run["rows_quarantined"] > 0  # the synthetic delivery carries faults on purpose
    hub.clients.grant("approvals", "datasets", PUBLISHING, UNTIL, [DATASET])
    hub.clients.grant("stranger", "datasets", PUBLISHING, UNTIL, ["hrss_insurance"])
    url = f"/v1/runs/{run['run_id']}/rejections"
    mine = hub.http.get(url, headers=hub.headers("approvals", PUBLISHING))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["rows"] == run["rows_quarantined"] == body["shown"] == len(body["items"])
    first = body["items"][0]
    assert first["reasons"] and set(first["key"]) == {"id_number"}
    assert "name" in first["values"] and body["reasons"]
    # another department's client: the run does not exist for it
    other = hub.http.get(url, headers=hub.headers("stranger", PUBLISHING))
    assert other.status_code == 404 and DATASET not in other.text


def test_without_a_publishing_grant_rejections_are_refused(hub: Hub) -> None:
    (run,) = hub.ingest.library.list_runs(DATASET)
    hub.clients.grant("approvals", "population", "social-assistance-review", UNTIL, ["name"])
    url = f"/v1/runs/{run['run_id']}/rejections"
    assert hub.http.get(url, headers=hub.headers("approvals")).status_code == 403
    assert hub.http.get(url).status_code == 401
