"""The Idempotency-Key store under the issuance API: one claim per key, the first answer kept,
a claim abandoned by a crashed process taken over, a refused request's key freed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from hub.settings import Settings
from licence.store import LicenceStore
from licence.tables import engine_for, idempotency


def _store(settings: Settings) -> LicenceStore:
    return LicenceStore(engine_for(settings.db_url))


def test_a_key_is_claimed_once_and_answers_with_the_first_answer(settings: Settings) -> None:
    store = _store(settings)
    assert store.claim_key("c1", "k", "d1") is None
    pending = store.claim_key("c1", "k", "d1")
    assert pending is not None and pending["state"] == "pending"  # in flight: the API says 409
    store.answer_key("c1", "k", 201, '{"licence_id": "x"}')
    done = store.claim_key("c1", "k", "d1")
    assert done is not None and (done["state"], done["http_status"]) == ("done", 201)
    assert done["answer"] == '{"licence_id": "x"}'
    other = store.claim_key("c1", "k", "d2")  # another body: the row says which digest
    assert other is not None and other["request_sha256"] == "d1"
    assert store.claim_key("c2", "k", "d2") is None  # keys are per client


def test_a_stale_claim_is_taken_over_and_a_released_one_is_free(settings: Settings) -> None:
    store = _store(settings)
    assert store.claim_key("c1", "k", "d1") is None
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(update(idempotency).values(created_at=old))
    assert store.claim_key("c1", "k", "d1") is None  # its process died before committing
    store.release_key("c1", "k")
    assert store.claim_key("c1", "k", "d2") is None  # freed: any body may use it now
