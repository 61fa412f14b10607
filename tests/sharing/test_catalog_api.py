"""``GET /v1/catalog``: the catalogue in DCAT-AP's shape for any registered client, and nobody
else."""

from __future__ import annotations

from tests.sharing.catalog_kit import DATASET, Hub, hub

__all__ = ["hub"]  # fixture


def _bearer(hub: Hub, client_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.keys[client_id]}"}


def test_any_registered_client_reads_the_catalogue_without_a_grant(hub: Hub) -> None:
    answer = hub.http.get("/v1/catalog", headers=_bearer(hub, "stranger"))
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["@type"] == "dcat:Catalog" and "dcat" in doc["@context"]
    by_id = {d["identifier"]: d for d in doc["dataset"]}
    assert {"population", "legal-entity", DATASET, "mr_enterprise"} <= set(by_id)
    household = by_id[DATASET]
    assert household["@type"] == "dcat:Dataset"
    assert household["publisher"]["name"].startswith("省公安厅")
    assert household["accrualPeriodicity"] == "P1D"
    assert household["distribution"][0]["mediaType"] == "text/csv"
    fields = {f["name"]: f for f in household["fields"]}
    assert fields["birth_date"]["type"] == "date" and fields["birth_date"]["authoritative"]
    assert fields["family_size"]["sharing"]["attribute_zh"] == "不予共享"
    assert fields["mobile"]["sharing"]["legal_basis_required"] is True
    # the latest run and its quality scores
    (run,) = hub.ingest.library.list_runs(DATASET)
    assert household["latestRun"]["runId"] == run["run_id"]
    assert household["latestRun"]["rowsIn"] == run["rows_in"]
    dims = {m["dimension"]: m for m in household["measurements"]}
    assert "completeness" in dims and 0 <= dims["completeness"]["value"] <= 1
    assert dims["completeness"]["threshold"] == 0.98
    # a dataset nobody delivered yet says so rather than inventing a run
    assert by_id["mr_enterprise"]["latestRun"] is None


def test_the_library_entry_names_each_fields_owner_and_sharing(hub: Hub) -> None:
    answer = hub.http.get("/v1/catalog/population", headers=_bearer(hub, "approvals"))
    assert answer.status_code == 200
    fields = {f["name"]: f for f in answer.json()["fields"]}
    assert fields["death_date"]["owner"].startswith("省民政厅")
    assert fields["contact_address"]["sharing"]["attribute"] == "none"
    assert fields["name"]["sharing"] == {"attribute": "unconditional", "attribute_zh": "无条件共享"}
    assert answer.json()["distribution"][0]["accessURL"] == "/v1/persons/{id}"


def test_one_dataset_and_an_unknown_one(hub: Hub) -> None:
    one = hub.http.get(f"/v1/catalog/{DATASET}", headers=_bearer(hub, "approvals"))
    assert one.status_code == 200 and one.json()["identifier"] == DATASET
    assert "@context" in one.json()
    missing = hub.http.get("/v1/catalog/nothing_here", headers=_bearer(hub, "approvals"))
    assert missing.status_code == 404
    assert "nothing_here" in missing.json()["detail"]


def test_without_a_registered_key_the_catalogue_is_refused(hub: Hub) -> None:
    assert hub.http.get("/v1/catalog").status_code == 401
    bad = hub.http.get("/v1/catalog", headers={"Authorization": "Bearer hub_not-a-key"})
    assert bad.status_code == 401
    hub.clients.revoke("stranger")
    hub.clients.invalidate()
    assert hub.http.get("/v1/catalog", headers=_bearer(hub, "stranger")).status_code == 401
