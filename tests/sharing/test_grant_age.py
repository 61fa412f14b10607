"""A grant stored before the catalogue (no record of an approval) opens no 有条件共享 field:
a conditional field needs an approval on every read, whatever the grant's age."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, inspect, text

from api.clients import Client, ClientStore, Grant, grants
from storage.library import POPULATION, engine_for
from tests.sharing.catalog_kit import PURPOSE, UNTIL, Hub, hub

__all__ = ["hub"]  # fixture


def _old_grant(hub: Hub, fields: str) -> None:
    """A grant row written as hubs wrote them before the catalogue: no approval recorded."""
    with engine_for(hub.settings.db_url).begin() as conn:
        conn.execute(
            insert(grants).values(
                client_id="approvals",
                scope="population",
                fields=fields,
                purpose=PURPOSE,
                expires_at=UNTIL.replace(tzinfo=None),
                created_at=dt.datetime(2025, 1, 1),
            )
        )
    hub.served_clients().invalidate()


def _read(hub: Hub) -> dict[str, object]:
    subject = hub.ingest.library.subjects(POPULATION)[0]
    got = hub.http.get(f"/v1/persons/{subject}", headers=hub.headers("approvals"))
    assert got.status_code == 200, got.text
    return dict(got.json()["fields"])


def test_an_old_star_grant_opens_no_conditional_field(hub: Hub) -> None:
    _old_grant(hub, "*")
    fields = _read(hub)
    assert "name" in fields and "mobile" not in fields  # mobile: 有条件共享


def test_an_old_grant_naming_a_conditional_field_does_not_open_it(hub: Hub) -> None:
    _old_grant(hub, "name,mobile")
    assert set(_read(hub)) == {"name"}


def test_an_approved_grant_opens_it(hub: Hub) -> None:
    from sharing.access import Approval

    approval = Approval("AR-1", frozenset({"mobile"}), PURPOSE)
    hub.clients.grant("approvals", "population", PURPOSE, UNTIL, ["name", "mobile"], approval)
    hub.served_clients().invalidate()
    assert set(_read(hub)) == {"name", "mobile"}


def test_a_database_from_before_gets_the_approval_column(tmp_path: object) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:  # api_grants as it was created before
        conn.execute(
            text(
                "CREATE TABLE api_grants (grant_id INTEGER PRIMARY KEY, client_id VARCHAR(64) "
                "NOT NULL, scope VARCHAR(32) NOT NULL, fields TEXT NOT NULL, purpose "
                "VARCHAR(64) NOT NULL, expires_at DATETIME NOT NULL, created_at DATETIME NOT "
                "NULL, revoked_at DATETIME)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO api_grants (client_id, scope, fields, purpose, expires_at, "
                "created_at) VALUES ('approvals', 'population', '*', :p, '2099-01-01', "
                "'2025-01-01')"
            ),
            {"p": PURPOSE},
        )
    store = ClientStore(engine)
    assert "approved" in {c["name"] for c in inspect(engine).get_columns("api_grants")}
    key = store.add("approvals", "system")
    client = store.authenticate(key)
    assert client is not None
    permit = client.permit("population", PURPOSE)
    assert permit is not None and permit.allows("name") and not permit.allows("mobile")


def test_no_read_opens_a_conditional_field_its_grant_has_no_approval_for() -> None:
    """Property: whatever fields old or new grants name (``*`` included) and whatever
    approvals they record, a read opens a conditional field only if some live grant names it
    (or ``*``) and records its approval, and never a 不予共享 field."""
    store = ClientStore(create_engine("sqlite://"))
    sharing = store.sharing("population")
    names = sorted(sharing)
    conditional = store.conditional()["population"]
    withheld = {n for n, rule in sharing.items() if rule.attribute == "none"}
    until = dt.datetime(2099, 1, 1)
    grant = st.builds(
        lambda fields, approved, i: Grant(i, "population", fields, PURPOSE, until, approved),
        st.frozensets(st.sampled_from([*names, "*"]), min_size=1),
        st.frozensets(st.sampled_from(sorted(conditional))),
        st.integers(1, 10**6),
    )

    @settings(max_examples=200, deadline=None)
    @given(st.lists(grant, min_size=1, max_size=4))
    def check(grants: list[Grant]) -> None:
        client = Client("c", "c", None, tuple(grants), store.shareable(), store.conditional())
        permit = client.permit("population", PURPOSE)
        assert permit is not None
        for name in names:
            named = [g for g in grants if "*" in g.fields or name in g.fields]
            if name in withheld:
                assert not permit.allows(name)
            elif name in conditional:
                assert permit.allows(name) == any(name in g.approved for g in named)
            else:
                assert permit.allows(name) == bool(named)

    check()
