"""Grants exist only inside the catalogue: never on a 不予共享 field, a 有条件共享 one only
under its department's approval, an unconditional one at once (API store and CLI alike)."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import hub.settings
from api.clients import Client, ClientError, ClientStore
from hub.cli import main
from hub.settings import Settings
from schemas.library import LEGAL_ENTITY, POPULATION
from sharing.access import Approval
from storage.library import engine_for

UNTIL = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
PURPOSES = ("social-assistance-review", "identity-verification", "business-registration-review")
NAMES = {"population": POPULATION.field_names, "legal-entity": LEGAL_ENTITY.field_names}


@pytest.fixture
def store(tmp_path: Path) -> ClientStore:
    s = ClientStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}"), cache_seconds=0)
    s.add("approvals", "an approval system")
    return s


def _permit_fields(store: ClientStore, client_id: str, scope: str, purpose: str) -> set[str]:
    (client,) = [c for c in store.list() if c["client_id"] == client_id]
    stored: set[str] = set()
    for g in client["grants"]:
        if g["scope"] == scope and g["purpose"] == purpose:
            stored |= set(g["fields"].split(","))
    return stored


def test_unconditional_fields_are_granted_at_once(store: ClientStore) -> None:
    store.grant("approvals", "population", PURPOSES[0], UNTIL, ["name", "birth_date"])
    assert _permit_fields(store, "approvals", "population", PURPOSES[0]) == {"name", "birth_date"}


def test_a_withheld_field_is_refused_naming_it(store: ClientStore) -> None:
    with pytest.raises(ClientError, match="contact_address: 不予共享"):
        store.grant("approvals", "population", PURPOSES[0], UNTIL, ["name", "contact_address"])
    approved = Approval("AR-9", frozenset({"contact_address"}), PURPOSES[0])
    with pytest.raises(ClientError, match="不予共享"):  # not even with an approval
        store.grant("approvals", "population", PURPOSES[0], UNTIL, ["contact_address"], approved)
    assert store.list()[0]["grants"] == []  # a refused grant changes nothing


def test_a_conditional_field_needs_an_approval_for_that_field_and_purpose(
    store: ClientStore,
) -> None:
    with pytest.raises(ClientError, match="mobile: 有条件共享"):
        store.grant("approvals", "population", PURPOSES[1], UNTIL, ["mobile"])
    other = Approval("AR-1", frozenset({"mobile"}), PURPOSES[0])
    with pytest.raises(ClientError, match="approved for purpose"):
        store.grant("approvals", "population", PURPOSES[1], UNTIL, ["mobile"], other)
    # the catalogue lets mobile go only to the purposes it names
    barred = Approval("AR-2", frozenset({"mobile"}), "licence-exemption")
    with pytest.raises(ClientError, match="do not allow purpose"):
        store.grant("approvals", "population", "licence-exemption", UNTIL, ["mobile"], barred)
    approved = Approval("AR-3", frozenset({"mobile"}), PURPOSES[1])
    store.grant("approvals", "population", PURPOSES[1], UNTIL, ["mobile"], approved)
    assert _permit_fields(store, "approvals", "population", PURPOSES[1]) == {"mobile"}


def test_star_is_written_out_as_the_fields_it_may_open(store: ClientStore) -> None:
    store.grant("approvals", "population", PURPOSES[0], UNTIL, ["*"])
    opened = _permit_fields(store, "approvals", "population", PURPOSES[0])
    sharing = store.sharing("population")
    assert opened == {n for n, s in sharing.items() if s.attribute == "unconditional"}
    approved = Approval("AR-4", frozenset({"death_date"}), PURPOSES[0])
    store.grant("approvals", "population", PURPOSES[0], UNTIL, ["*"], approved)
    assert "death_date" in _permit_fields(store, "approvals", "population", PURPOSES[0])


def test_a_star_grant_stored_before_the_catalogue_opens_no_withheld_or_conditional_field(
    store: ClientStore,
) -> None:
    from sqlalchemy import insert

    from api.clients import grants

    now = dt.datetime(2026, 1, 1)
    with store.engine.begin() as conn:  # as hubs before the catalogue stored it
        conn.execute(
            insert(grants).values(
                client_id="approvals",
                scope="population",
                fields="*",
                purpose=PURPOSES[0],
                expires_at=dt.datetime(2099, 1, 1),
                created_at=now,
            )
        )
    permit = _client(store).permit("population", PURPOSES[0])
    assert permit is not None
    assert not permit.allows("contact_address")  # 不予共享
    assert not permit.allows("mobile") and permit.allows("name")  # 有条件共享: no approval


def _client(store: ClientStore) -> Client:
    key = store.rotate("approvals")
    client = store.authenticate(key)
    assert client is not None
    return client


@hsettings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scope=st.sampled_from(("population", "legal-entity")),
    picked=st.lists(st.integers(0, 40), max_size=5),
    star=st.booleans(),
    purpose=st.sampled_from(PURPOSES),
    approve=st.lists(st.integers(0, 40), max_size=4),
    approve_purpose=st.sampled_from(PURPOSES),
    with_approval=st.booleans(),
)
def test_no_grant_can_exist_on_a_withheld_field(
    store: ClientStore,
    scope: str,
    picked: list[int],
    star: bool,
    purpose: str,
    approve: list[int],
    approve_purpose: str,
    with_approval: bool,
) -> None:
    names = NAMES[scope]
    fields = [names[i % len(names)] if i < 35 else f"unknown{i}" for i in picked]
    if star:
        fields.append("*")
    approval = (
        Approval("AR-P", frozenset(names[i % len(names)] for i in approve), approve_purpose)
        if with_approval
        else None
    )
    with contextlib.suppress(ClientError):
        store.grant("approvals", scope, purpose, UNTIL, fields, approval)
    sharing = store.sharing(scope)
    key = store.rotate("approvals")
    client = store.authenticate(key)
    assert client is not None
    for g in client.grants:
        sharing_of = store.sharing(g.scope)
        assert "*" not in g.fields
        for name in g.fields:
            assert sharing_of[name].attribute != "none", name
    for p in PURPOSES:
        permit = client.permit(scope, p)
        if permit is not None:
            assert not any(permit.allows(n) for n, s in sharing.items() if s.attribute == "none")


def test_the_cli_refuses_a_withheld_field(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner().invoke
    assert run(main, ["client", "add", "approvals", "--name", "approvals"]).exit_code == 0
    args = ["client", "grant", "approvals", "--scope", "population", "--until", "2099-01-01"]
    refused = run(main, [*args, "--purpose", PURPOSES[0], "--fields", "name,contact_address"])
    assert refused.exit_code != 0
    assert "contact_address" in refused.output and "不予共享" in refused.output
    conditional = run(main, [*args, "--purpose", PURPOSES[1], "--fields", "mobile"])
    assert conditional.exit_code != 0 and "access request" in conditional.output
    granted = run(main, [*args, "--purpose", PURPOSES[0], "--fields", "name"])
    assert granted.exit_code == 0, granted.output
