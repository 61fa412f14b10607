"""The materials library (电子材料库): the same bytes stored twice are one object; a material is
served to a client granted its type, audited under the holder; prefill links it; once the
holder withdraws it, it is neither served nor linked, and the withdrawal is in the ledger."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app
from sharing.materials import MaterialError, MaterialStore, object_key
from storage.library import LibraryStore, engine_for
from storage.objects import LocalObjectStore
from tests.sharing.claims_fixtures import ALIVE, seed
from tests.sharing.test_forms import COMPANY, ELDER, seed_typical

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PURPOSE = "social-assistance-review"


@pytest.fixture
def materials(tmp_path: Path) -> MaterialStore:
    engine = engine_for(f"sqlite:///{tmp_path / 'hub.db'}")
    return MaterialStore(engine, LocalObjectStore(tmp_path / "objects"))


def test_the_same_bytes_stored_twice_are_one_object(materials: MaterialStore) -> None:
    first, new1 = materials.submit(ELDER, "id_photo", PNG, "window-1")
    again, new2 = materials.submit(ELDER, "id_photo", PNG, "window-2")
    other, new3 = materials.submit(COMPANY, "premises_proof", PNG, "window-1")
    assert (new1, new2, new3) == (True, False, True)
    assert again.material_id == first.material_id  # the same holder and type: on file already
    assert other.sha256 == first.sha256 and other.material_id != first.material_id
    assert materials.objects.list("landing/materials/") == [object_key(first.sha256)]


@pytest.mark.parametrize(
    ("type_code", "data", "message"),
    [
        ("selfie", PNG, "unknown material type"),
        ("id_photo", b"", "empty"),
        ("id_photo", b"MZ\x90\x00 an executable", "not a PDF"),
        ("id_photo", b"%PDF-" + b"\x00" * (10 * 1024 * 1024), "larger than"),
    ],
)
def test_refused_materials_say_why_and_store_nothing(
    materials: MaterialStore, type_code: str, data: bytes, message: str
) -> None:
    with pytest.raises(MaterialError, match=message):
        materials.submit(ELDER, type_code, data, "window-1")
    assert materials.objects.list("landing/") == [] and materials.of_holder(ELDER) == []


def test_a_withdrawn_material_is_not_served_and_the_withdrawal_is_logged(
    materials: MaterialStore,
) -> None:
    made, _ = materials.submit(ELDER, "bank_card", PDF, "window-1")
    assert materials.content(made) == PDF
    logged: list[bytes] = []
    with pytest.raises(MaterialError, match="no such material"):
        materials.withdraw(made.material_id, COMPANY, lambda b: logged.append(b) or 1)
    done = materials.withdraw(made.material_id, ELDER, lambda b: logged.append(b) or 7)
    assert done.status == "withdrawn"
    with pytest.raises(MaterialError, match="withdrew"):
        materials.content(done)
    assert materials.of_holder(ELDER) == [] and materials.refs(ELDER, "bank_card") == []
    event = json.loads(logged[0])
    assert event["type"] == "material-withdrawn" and event["material_id"] == made.material_id
    assert ELDER not in logged[0].decode()  # the ledger never names the holder
    materials.withdraw(made.material_id, ELDER, lambda b: logged.append(b) or 8)
    assert len(logged) == 1  # withdrawing again changes nothing
    assert materials.objects.get(object_key(made.sha256)) == PDF  # kept for retention


# ---- over the API ----------------------------------------------------------------------------
def _app_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture(name="api")
def _api(settings: Settings) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    seed_typical(seed(LibraryStore(engine_for(settings.db_url))))
    app = api_app(settings, background=False)
    clients = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    keys = {
        "window": clients.add("window", "政务服务窗口", rate_limit=10_000),
        "photos": clients.add("photos", "photos only", rate_limit=10_000),
        "app": clients.add("holder-app", "皖事通", rate_limit=10_000),
    }
    for scope in ("materials", "forms", "population", "licences"):
        clients.grant("window", scope, PURPOSE, until)
    clients.grant("photos", "materials", PURPOSE, until, ["id_photo"])
    clients.grant("holder-app", "holder-app", "holder-service", until)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http, app, keys


def _h(key: str, purpose: str = PURPOSE) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Purpose": purpose}


def _submit(http: TestClient, key: str, holder: str, kind: str, data: bytes) -> Any:
    files = {"file": ("f.bin", data, "application/octet-stream")}
    form = {"holder": holder, "type": kind, "issuer": "淮南市第一人民医院"}
    return http.post("/v1/materials", data=form, files=files, headers=_h(key))


def test_materials_over_the_api_are_granted_audited_and_linked_by_prefill(api: Any) -> None:
    http, app, keys = api
    r = _submit(http, keys["window"], ELDER.lower(), "id_photo", PNG)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["holder"] == ELDER and made["new"] is True
    again = _submit(http, keys["window"], ELDER, "id_photo", PNG)
    assert again.status_code == 200 and again.json()["material_id"] == made["material_id"]
    _submit(http, keys["window"], ELDER, "bank_card", PDF)
    # a client granted photos only sees photos, and cannot store another type
    listed = http.get(f"/v1/holders/{ELDER}/materials", headers=_h(keys["photos"])).json()
    assert [m["type"] for m in listed["materials"]] == ["id_photo"]
    assert _submit(http, keys["photos"], ELDER, "bank_card", PDF).status_code == 403
    got = http.get(f"/v1/materials/{made['material_id']}", headers=_h(keys["photos"]))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    bank = http.get(f"/v1/holders/{ELDER}/materials?type=bank_card", headers=_h(keys["window"]))
    bank_id = bank.json()["materials"][0]["material_id"]
    assert http.get(f"/v1/materials/{bank_id}", headers=_h(keys["photos"])).status_code == 404
    # prefill links the photo on file
    filled = http.post(
        "/v1/forms/elderly-allowance/prefill", json={"applicant": ELDER}, headers=_h(keys["window"])
    ).json()
    photo = next(f for f in filled["fields"] if f["key"] == "photo")
    assert (
        photo["status"] == "filled" and photo["materials"][0]["material_id"] == made["material_id"]
    )
    log = app.state.hub.audit
    log.flush()
    from sqlalchemy import select

    from api.audit import audit_log

    with log.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.route.like("%materials%"))).all()
    assert rows and {r.subject_hash for r in rows} == {log.subject_hash(ELDER)}


def test_bad_submissions_are_clear_errors(api: Any) -> None:
    http, _, keys = api
    assert _submit(http, keys["window"], "12345", "id_photo", PNG).status_code == 422
    bad = _submit(http, keys["window"], ELDER, "id_photo", b"plain text")
    assert bad.status_code == 422 and "not a PDF" in bad.json()["detail"]
    wrong = _submit(http, keys["window"], COMPANY, "id_photo", PNG)  # a photo is a person's
    assert wrong.status_code == 422 and "resident ID" in wrong.json()["detail"]
    r = http.post("/v1/materials", json={"holder": ELDER}, headers=_h(keys["window"]))
    assert r.status_code == 422 and "form field" in r.json()["detail"]


def test_the_holder_withdraws_a_material_and_it_is_no_longer_served(api: Any) -> None:
    import jwt

    from holder.assertions import HolderApps

    http, app, keys = api
    made = _submit(http, keys["window"], ELDER, "id_photo", PNG).json()
    key = _app_key()
    HolderApps(app.state.hub.library.engine).register("holder-app", _pem(key))
    origin = "https://" + app.state.hub.licences.verification_url.split("/")[2]

    def token(subject: str) -> str:
        now = int(time.time())
        body = {"iss": "holder-app", "sub": subject, "aud": origin, "iat": now, "exp": now + 120}
        return jwt.encode({**body, "jti": uuid.uuid4().hex}, key, algorithm="ES256")

    path = f"/v1/materials/{made['material_id']}/withdraw"
    app_headers = _h(keys["app"], "holder-service")
    other = http.post(path, headers={**app_headers, "X-Holder-Assertion": token(ALIVE)})
    assert other.status_code == 404  # not that holder's
    r = http.post(path, headers={**app_headers, "X-Holder-Assertion": token(ELDER)})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    from sqlalchemy import select

    from sharing.materials import materials as table

    with app.state.hub.library.engine.connect() as conn:
        entry = conn.execute(
            select(table.c.ledger_entry).where(table.c.material_id == made["material_id"])
        ).scalar_one()
    assert entry is not None  # the withdrawal was appended to the ledger
    gone = http.get(f"/v1/materials/{made['material_id']}", headers=_h(keys["window"]))
    assert gone.status_code == 410
    listed = http.get(f"/v1/holders/{ELDER}/materials", headers=_h(keys["window"])).json()
    assert listed["materials"] == []
    filled = http.post(
        "/v1/forms/elderly-allowance/prefill", json={"applicant": ELDER}, headers=_h(keys["window"])
    ).json()
    assert next(f for f in filled["fields"] if f["key"] == "photo")["status"] == "not-held"


def test_bytes_replaced_behind_the_hubs_back_are_never_served(api: Any, settings: Settings) -> None:
    """The content address is checked on every read: a file swapped in the object store is
    refused with a clear 503 (not served as the material, not a traceback)."""
    http, _, keys = api
    made = _submit(http, keys["window"], ELDER, "id_photo", PNG).json()
    stored = settings.objects_path / object_key(made["sha256"])
    stored.unlink()
    stored.write_bytes(PNG + b"swapped")
    r = http.get(f"/v1/materials/{made['material_id']}", headers=_h(keys["window"]))
    assert r.status_code == 503 and r.json()["type"].endswith("integrity")
    assert "do not match" in r.json()["detail"] and ELDER not in r.text
