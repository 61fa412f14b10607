"""A company's agents (经办人): its legal representative authorises a person on /me, the person
acts for the company within the scope and until the date given, and nothing else."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from holder_app import PIN, Hub, Phone
from holder_world import ENTITY_NAME, ENTITY_USCC, OTHER_ID, PERSON_ID
from sqlalchemy import func, select

from holder import store
from holder.agents import AgentRefused, a_year_on, end_of
from schemas import resident_id
from storage.ledger_store import entries
from storage.library import LibraryStore


def _with_x() -> str:
    """A resident ID number whose check character is X (typed as a lower-case x below)."""
    for serial in range(100, 1000):
        body = f"43010219880808{serial:03d}"
        if resident_id.check_character(body) == "X":
            return body + "X"
    raise AssertionError("no body with check character X")


AGENT_ID = _with_x()
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９ｘ")
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def _represent(hub: Hub, person: str, minutes: int = 1) -> None:
    LibraryStore(hub.app.state.hub.library.engine).merge(
        "legal-entity",
        f"run-agents-{person[-4:]}-{minutes}",
        "mr_enterprise",
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
        [ENTITY_USCC],
        {"legal_rep_id_number": [person]},
    )


def _csrf(http: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', http.get(path).text)
    assert found
    return found.group(1)


def _post(
    http: TestClient, path: str, data: dict[str, str] | None = None, page: str = "/me"
) -> Any:
    return http.post(
        path, data={"csrf_token": _csrf(http, page), **(data or {})}, follow_redirects=False
    )


@pytest.fixture
def agent(hub: Hub) -> TestClient:
    """A second browser, signed in as AGENT_ID (a resident with their own credential)."""
    LibraryStore(hub.app.state.hub.library.engine).merge(
        "population",
        "run-agent",
        "ps_household",
        dt.datetime.now(dt.UTC),
        [AGENT_ID],
        {"name": ["王五"]},
    )
    return _browser(hub, AGENT_ID)


def _browser(hub: Hub, person: str) -> TestClient:
    """Another browser, signed in as ``person`` (of the population library) with a credential
    enrolled for them here."""
    enrolment = hub.cloudsign.enrol(person, PIN)
    secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
    phone = Phone(base64.b32decode(secret + "=" * (-len(secret) % 8)), hub.clock)
    http = TestClient(hub.app, raise_server_exceptions=False)
    signed = _post(
        http,
        "/me/login",
        {"id_number": person, "pin": PIN, "otp": phone.code()},
        page="/me/login",
    )
    assert signed.status_code == 303, signed.text
    return http


def _as_rep(hub: Hub) -> None:
    """The browser of ``hub`` signed in as PERSON_ID, the representative, acting for it."""
    _represent(hub, PERSON_ID)
    assert hub.sign_in().status_code == 303
    assert _post(hub.http, "/me/act-for", {"uscc": ENTITY_USCC}).status_code == 303


def _grant(hub: Hub, agent_text: str = AGENT_ID, scope: str = "all", days: int = 30) -> Any:
    until = (TODAY + dt.timedelta(days=days)).isoformat()
    data = {"agent_id": agent_text, "until": until, "scope": scope}
    return _post(hub.http, "/me/agents", data, page="/me/agents")


def _stored(hub: Hub) -> list[Any]:
    with hub.app.state.hub.library.engine.connect() as conn:
        return list(conn.execute(select(store.agents)).all())


def _ledger(hub: Hub) -> list[dict[str, Any]]:
    with hub.app.state.hub.ledger.engine.connect() as conn:
        rows = conn.execute(select(entries.c.data).order_by(entries.c.idx)).all()
    out = []
    for (data,) in rows:
        try:
            event = json.loads(bytes(data))
        except ValueError:
            continue
        if isinstance(event, dict) and str(event.get("type", "")).startswith("holder.agent"):
            out.append(event)
    return out


def _act(http: TestClient) -> Any:
    return _post(http, "/me/act-for", {"uscc": ENTITY_USCC})


def test_an_agent_acts_for_the_company_until_the_grant_is_revoked(
    hub: Hub, agent: TestClient
) -> None:
    _as_rep(hub)
    assert _grant(hub).status_code == 303
    (row,) = _stored(hub)
    assert (row.company, row.agent, row.granted_by, row.scope) == (
        ENTITY_USCC,
        AGENT_ID,
        PERSON_ID,
        "all",
    )
    own = agent.get("/me").text  # the agent's own side offers the company
    assert f'data-company="{ENTITY_USCC}"' in own and ENTITY_NAME in own
    assert _act(agent).status_code == 303
    home = agent.get("/me").text
    assert 'id="acting-as-agent"' in home and "Acting as agent of" in home
    assert ENTITY_NAME in home and hub.world.business in home
    assert hub.world.qualification not in home
    copy = agent.get(f"/me/licences/{hub.world.business}/json")
    assert copy.status_code == 200 and hub.world.business in copy.text
    # the company's "who looked": what the agent did, the agent named (masked), not the client
    looked = hub.http.get("/me/audit").text
    assert "经办人 " + AGENT_ID[:6] + "********" + AGENT_ID[14:] in looked
    company_rows = hub.audit(ENTITY_USCC)
    by_agent = [r for r in company_rows if r["client_id"] == f"agent:{row.ref}"]
    assert {"acting-as-agent", "ok"} <= {r["outcome"] for r in by_agent}
    # the representative revokes: the agent's next request is refused
    revoked = _post(hub.http, f"/me/agents/{row.ref}/revoke", page="/me/agents")
    assert revoked.status_code == 303
    answer = agent.get("/me", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/me/login"
    # audited under the company and under the agent, and in the ledger
    for subject in (ENTITY_USCC, AGENT_ID):
        seen = {r["outcome"] for r in hub.audit(subject)}
        assert {"agent-granted", "agent-revoked"} <= seen, subject
    events = _ledger(hub)
    assert [e["type"] for e in events] == ["holder.agent-granted", "holder.agent-revoked"]
    assert all(e["ref"] == row.ref and e["company"] == ENTITY_USCC for e in events)
    assert AGENT_ID not in json.dumps(events) and PERSON_ID not in json.dumps(events)


def test_an_expired_authorisation_is_refused(hub: Hub, agent: TestClient) -> None:
    _as_rep(hub)
    assert _grant(hub, days=0).status_code == 303  # until the end of today
    assert _act(agent).status_code == 303
    agents = hub.app.state.holder_side.agents
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=1)
    agents.clock = tomorrow.timestamp
    answer = agent.get("/me", follow_redirects=False)  # the open session ends with it
    assert answer.status_code == 303 and answer.headers["location"] == "/me/login"
    (row,) = _stored(hub)
    page = hub.http.get("/me/agents").text
    assert f'data-ref="{row.ref}" data-status="expired"' in page


def test_the_end_date_is_today_to_a_year_on(hub: Hub) -> None:
    _as_rep(hub)
    for days in (-1, 367):
        refused = _grant(hub, days=days)
        assert refused.status_code == 400 and "截止日期" in refused.text
    assert (
        _post(
            hub.http, "/me/agents", {"agent_id": AGENT_ID, "until": "soon"}, "/me/agents"
        ).status_code
        == 400
    )
    assert _stored(hub) == [] and _ledger(hub) == []
    with pytest.raises(AgentRefused):
        end_of(a_year_on(TODAY).isoformat()[:8] + "32", TODAY)
    assert a_year_on(dt.date(2028, 2, 29)) == dt.date(2029, 2, 28)
    # the end of the day in Beijing: 16:00 UTC
    assert end_of("2026-12-31", dt.date(2026, 12, 7)) == dt.datetime(2026, 12, 31, 16, 0)


def test_a_change_of_representative_ends_the_agents_session(hub: Hub, agent: TestClient) -> None:
    _as_rep(hub)
    assert _grant(hub).status_code == 303
    assert _act(agent).status_code == 303
    _represent(hub, OTHER_ID, minutes=2)  # the regulator's next delivery names another person
    answer = agent.get("/me", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/me/login"
    # a grant by a former representative is no grant: nothing offered, acting refused
    side = hub.app.state.holder_side
    assert side.agents.of_agent(AGENT_ID, side.sessions.authorised) == []
    # the new representative sees the grant as no longer honoured
    new_rep = _browser(hub, OTHER_ID)
    assert _act(new_rep).status_code == 303
    (row,) = _stored(hub)
    page = new_rep.get("/me/agents").text
    assert f'data-ref="{row.ref}" data-status="former-rep"' in page


def test_an_agent_cannot_authorise_agents(hub: Hub, agent: TestClient) -> None:
    _as_rep(hub)
    assert _grant(hub).status_code == 303
    assert _act(agent).status_code == 303
    assert 'id="manage-agents"' not in agent.get("/me").text
    assert agent.get("/me/agents").status_code == 403
    csrf = _csrf(agent, "/me")
    until = (TODAY + dt.timedelta(days=5)).isoformat()
    tried = agent.post(
        "/me/agents",
        data={"csrf_token": csrf, "agent_id": OTHER_ID, "until": until, "scope": "all"},
        follow_redirects=False,
    )
    assert tried.status_code == 403
    (row,) = _stored(hub)
    revoke = agent.post(
        f"/me/agents/{row.ref}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoke.status_code == 403
    assert [r.agent for r in _stored(hub)] == [AGENT_ID] and _stored(hub)[0].ended_at is None
    assert "agents-refused" in {r["outcome"] for r in hub.audit(ENTITY_USCC)}


def test_a_stranger_cannot_grant_for_a_company_they_do_not_represent(hub: Hub) -> None:
    _represent(hub, OTHER_ID)
    assert hub.sign_in().status_code == 303  # PERSON_ID, not the representative
    assert _post(hub.http, "/me/act-for", {"uscc": ENTITY_USCC}).status_code == 403
    until = (TODAY + dt.timedelta(days=5)).isoformat()
    data = {"agent_id": AGENT_ID, "until": until, "scope": "all"}
    assert _post(hub.http, "/me/agents", data).status_code == 403
    assert hub.http.get("/me/agents").status_code == 403
    assert _stored(hub) == [] and _ledger(hub) == []
    with hub.app.state.hub.library.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.agents)).scalar_one() == 0
    assert "agents-refused" in {r["outcome"] for r in hub.audit(PERSON_ID)}


def test_the_scope_limits_what_an_agent_does(hub: Hub, agent: TestClient) -> None:
    lid = hub.world.business
    _as_rep(hub)
    assert _grant(hub, scope="present").status_code == 303
    assert _act(agent).status_code == 303
    home = agent.get("/me").text
    assert f"/me/licences/{lid}/present" in home and f"/me/licences/{lid}/json" not in home
    assert 'href="/me/data"' not in home and 'href="/me/audit"' not in home
    for path in (f"/me/licences/{lid}/json", f"/me/licences/{lid}/pdf", "/me/data", "/me/audit"):
        assert agent.get(path).status_code == 403, path
    assert agent.get(f"/me/licences/{lid}/present").status_code == 200
    made = agent.post(
        "/v1/presentations",
        json={"licence_id": lid, "disclose": ["entity_type"]},
        headers={"X-CSRF-Token": _csrf(agent, "/me")},
    )
    assert made.status_code == 201, made.text
    # granted again, for viewing only: the earlier grant is replaced, at once
    assert _grant(hub, scope="view").status_code == 303
    assert sorted(str(r.ended_how) for r in _stored(hub)) == ["None", "replaced"]
    assert agent.get(f"/me/licences/{lid}/json").status_code == 200
    assert agent.get(f"/me/licences/{lid}/present").status_code == 403
    refused = agent.post(
        "/v1/presentations",
        json={"licence_id": lid, "disclose": ["entity_type"]},
        headers={"X-CSRF-Token": _csrf(agent, "/me")},
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("scope")
    assert "scope" in {r["outcome"] for r in hub.audit(ENTITY_USCC)}


@pytest.mark.parametrize(
    "typed",
    [AGENT_ID.translate(FULL_WIDTH), AGENT_ID.lower(), f" {AGENT_ID[:-1]}x "],
    ids=["full-width", "lower-case-x", "spaces"],
)
def test_the_agents_id_matches_whatever_form_it_was_typed_in(
    hub: Hub, agent: TestClient, typed: str
) -> None:
    _as_rep(hub)
    assert _grant(hub, typed).status_code == 303
    assert [r.agent for r in _stored(hub)] == [AGENT_ID]
    assert _act(agent).status_code == 303
    assert 'id="acting-as-agent"' in agent.get("/me").text
    assert "agent-granted" in {r["outcome"] for r in hub.audit(AGENT_ID)}


def test_the_representative_is_not_their_own_agent(hub: Hub) -> None:
    _as_rep(hub)
    refused = _grant(hub, PERSON_ID)
    assert refused.status_code == 400 and _stored(hub) == []
    assert _grant(hub, "not an id").status_code == 400 and _stored(hub) == []


def test_the_representatives_own_acts_are_audited_as_the_representatives(hub: Hub) -> None:
    _as_rep(hub)
    assert _grant(hub).status_code == 303
    assert _grant(hub, PERSON_ID).status_code == 400
    rows = {r["outcome"]: r["client_id"] for r in hub.audit(ENTITY_USCC)}
    assert rows["acting-for"] == rows["agent-granted"] == rows["agent-is-rep"] == "holder-pages:rep"
    # the person's own side records the switch as their own pages' act
    assert {r["client_id"] for r in hub.audit(PERSON_ID) if r["outcome"] == "acting-for"} == {
        "holder-pages"
    }
    assert "法定代表人" in hub.http.get("/me/audit").text
