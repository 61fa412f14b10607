"""Purposes are registered ASCII codes with Chinese and English titles: a request declares the
code, an unregistered header value is refused naming the client's purposes, a grant made under a
title is stored as the code, and a hub whose grants were stored under titles is upgraded when it
is opened."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from api.clients import ClientError, ClientStore, grants
from api.purposes import PurposeError, registry
from hub.settings import Settings
from storage.library import engine_for
from tests.api.conftest import PERSON, PERSON_NAME, PURPOSE, Api


def test_a_title_is_refused_in_the_header_with_the_clients_purposes_listed(api: Api) -> None:
    # what the CLI used to accept and the server could never match: UTF-8 in the header
    h = {"Authorization": f"Bearer {api.granted}", "X-Purpose": "社会救助审核".encode()}
    r = api.http.get(f"/v1/persons/{PERSON}", headers=h)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"].endswith("/unregistered-purpose")
    assert "send the code 'social-assistance-review'" in body["detail"]
    assert "social-assistance-review (社会救助审核 / Social assistance review)" in body["detail"]
    assert PERSON_NAME not in r.text
    free = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(purpose="social-aid"))
    assert (
        free.status_code == 400
        and "this client's purposes: social-assistance-review" in (free.json()["detail"])
    )
    ok = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert ok.status_code == 200
    # the audit stores the code (never mojibake) and the refusals no purpose
    rows = api.http.app.state.hub.audit.query(PERSON)
    assert [(r["purpose"], r["outcome"]) for r in rows] == [
        (PURPOSE, "ok"),
        ("-", "unregistered-purpose"),
        ("-", "unregistered-purpose"),
    ]


def test_grant_takes_a_code_or_a_title_and_refuses_free_text(settings: Settings) -> None:
    store = ClientStore(engine_for(settings.db_url))
    store.add("a", "A")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant("a", "population", "社会救助审核", until)
    store.grant("a", "population", "Identity verification", until)
    with pytest.raises(ClientError, match=r"unregistered purpose 'marketing'.*身份核验"):
        store.grant("a", "population", "marketing", until)
    listed = store.list()[0]["grants"]
    assert [g["purpose"] for g in listed] == ["social-assistance-review", "identity-verification"]
    assert listed[0]["purpose_title"] == {"zh": "社会救助审核", "en": "Social assistance review"}


def test_grants_stored_under_titles_are_upgraded_when_the_hub_is_opened(
    settings: Settings,
) -> None:
    engine = engine_for(settings.db_url)
    store = ClientStore(engine)
    key = store.add("legacy", "Legacy system", rate_limit=1000)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:  # as `hub client grant --purpose 社会救助审核` stored it before
        for purpose in ("社会救助审核", "phone-check"):
            conn.execute(
                insert(grants).values(
                    client_id="legacy",
                    scope="population",
                    fields="name",
                    purpose=purpose,
                    expires_at=now + dt.timedelta(days=1),
                    created_at=now,
                )
            )
    reopened = ClientStore(engine)
    assert reopened.upgraded == {"社会救助审核": "social-assistance-review"}
    with engine.connect() as conn:
        stored = sorted(conn.execute(select(grants.c.purpose)).scalars())
    assert stored == ["phone-check", "social-assistance-review"]
    client = reopened.authenticate(key)
    assert client is not None and client.permit("population", PURPOSE) is not None
    # free text that names no registered purpose stays as it was (the gate refuses it) until
    # the site declares the code with its titles
    assert "phone-check" not in reopened.purposes
    (settings.home / "purposes.yaml").write_text(
        "purposes:\n  phone-check:\n    zh: 电话核对\n    en: Phone check\n", encoding="utf-8"
    )
    site = registry(settings.home)
    assert site.label("phone-check") == "phone-check (电话核对 / Phone check)"
    assert PURPOSE in site  # the shipped ones stay


def test_a_site_cannot_redefine_a_shipped_purpose(tmp_path: Path) -> None:
    (tmp_path / "purposes.yaml").write_text(
        "purposes:\n  social-assistance-review:\n    zh: 别的\n    en: Other\n", encoding="utf-8"
    )
    with pytest.raises(PurposeError, match="already registered"):
        registry(tmp_path)
    (tmp_path / "purposes.yaml").write_text("purposes:\n  社会救助: {zh: a, en: b}\n", "utf-8")
    with pytest.raises(PurposeError, match="a-z, 0-9"):
        registry(tmp_path)
