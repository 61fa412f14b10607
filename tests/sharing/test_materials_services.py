"""Services tier: the materials library on MinIO. A material's bytes land in the object-locked
``landing`` bucket: the same bytes submitted twice (by two holders, too) are one object with
one version; MinIO itself refuses to delete that version within its retention, and bytes put
under the same key cannot replace it (they only make a newer version, never served as the
material); a withdrawn material stops being served while its bytes stay."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from sharing.materials import MaterialError, MaterialStore, object_key
from storage.library import engine_for
from storage.objects import ObjectExistsError, object_store
from tests.servicekit import own_database, service_env, services_settings
from tests.sharing.test_forms import COMPANY, ELDER

pytestmark = pytest.mark.services
LANDING = "landing"


def _png() -> bytes:
    """A PNG no earlier run of this tier stored (the landing bucket keeps objects a day)."""
    return b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(48)


@pytest.fixture
def materials(tmp_path: Path) -> Iterator[MaterialStore]:
    settings = services_settings(tmp_path)
    with own_database() as url:
        engine = engine_for(url)
        try:
            yield MaterialStore(engine, object_store(settings))
        finally:
            engine.dispose()


@pytest.fixture
def minio() -> Minio:
    env = service_env()
    return Minio(
        env["HUB_MINIO_ENDPOINT"],
        access_key=env["HUB_MINIO_ACCESS_KEY"],
        secret_key=env["HUB_MINIO_SECRET_KEY"],
        secure=False,
    )


def _versions(minio: Minio, key: str) -> list[str]:
    found = minio.list_objects(LANDING, prefix=key, include_version=True)
    return [str(o.version_id) for o in found if o.object_name == key and not o.is_delete_marker]


def test_the_same_bytes_twice_are_one_locked_object(materials: MaterialStore, minio: Minio) -> None:
    data = _png()
    first, new1 = materials.submit(ELDER, "id_photo", data, "window-1")
    again, new2 = materials.submit(ELDER, "id_photo", data, "window-2")
    other, new3 = materials.submit(COMPANY, "premises_proof", data, "window-1")
    assert (new1, new2, new3) == (True, False, True)
    assert again.material_id == first.material_id and other.material_id != first.material_id
    key = object_key(first.sha256)
    assert first.object_key == other.object_key == key
    (version,) = _versions(minio, key)  # one object, one version, in the locked bucket
    retention = minio.get_object_retention(LANDING, key, version_id=version)
    assert retention is not None and retention.mode == "COMPLIANCE"
    assert retention.retain_until_date > dt.datetime.now(dt.UTC)


def test_minio_refuses_to_delete_or_replace_a_material_within_retention(
    materials: MaterialStore, minio: Minio
) -> None:
    data = _png()
    made, _ = materials.submit(ELDER, "id_photo", data, "window-1")
    key = made.object_key
    (version,) = _versions(minio, key)
    with pytest.raises(S3Error) as refused:
        minio.remove_object(LANDING, key, version_id=version)
    assert "WORM protected" in (refused.value.message or "")
    with pytest.raises(ObjectExistsError, match="write-once"):
        materials.objects.put(key, _png())  # the hub's own store refuses other bytes too
    # a client with the bucket's keys can only add a newer version: the locked one stays, and
    # the material is never served from bytes that are not its own
    forged = _png()
    minio.put_object(LANDING, key, io.BytesIO(forged), len(forged))
    assert minio.get_object(LANDING, key, version_id=version).read() == data
    with pytest.raises(MaterialError, match="do not match"):
        materials.content(made)


def test_a_withdrawn_material_is_not_served_but_its_bytes_stay(
    materials: MaterialStore, minio: Minio
) -> None:
    data = _png()
    made, _ = materials.submit(ELDER, "bank_card", data, "window-1")
    assert materials.content(made) == data
    logged: list[bytes] = []
    done = materials.withdraw(made.material_id, ELDER, lambda b: logged.append(b) or 1)
    assert done.status == "withdrawn" and len(logged) == 1
    with pytest.raises(MaterialError, match="withdrew"):
        materials.content(done)
    assert materials.of_holder(ELDER) == [] and materials.refs(ELDER, "bank_card") == []
    (version,) = _versions(minio, made.object_key)
    assert minio.get_object(LANDING, made.object_key, version_id=version).read() == data
    # submitting the same bytes again does not revive it
    again, new = materials.submit(ELDER, "bank_card", data, "window-2")
    assert (again.material_id, again.status, new) == (made.material_id, "withdrawn", False)
