"""The audit is tamper-evident: digests in the ledger expose edited, removed or inserted rows,
and `hub audit query --subject` answers who looked at a person's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from api.audit import audit_log
from api.audit_verify import verify
from tests.api.conftest import PERSON, Api


def _traffic(api: Api, n: int = 3) -> None:
    for _ in range(n):
        assert api.http.get(f"/v1/persons/{PERSON}", headers=api.headers()).status_code == 200
    api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(api.ungranted))


def _digest_and_sequence(api: Api) -> None:
    state = api.http.app.state.hub
    assert state.audit.digest() is not None
    state.ledger.sequence()


def test_intact_audit_verifies_and_digests_are_proven_in_checkpoints(api: Api) -> None:
    _traffic(api)
    _digest_and_sequence(api)
    _traffic(api, 2)
    state = api.http.app.state.hub
    state.audit.digest()  # second digest stays pending in the ledger queue: still checked
    report = verify(state.audit.engine, state.ledger)
    assert report.ok, report.problems
    assert report.digests == 2 and report.rows_covered == 7 and report.sequenced == 1
    assert state.audit.digest() is None  # nothing new to cover
    entry = json.loads(state.ledger.receipt(0).data)
    assert entry["event"] == "audit.digest" and entry["count"] == 4


def test_edited_row_is_detected(api: Api) -> None:
    _traffic(api)
    _digest_and_sequence(api)
    state = api.http.app.state.hub
    with state.audit.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 2).values(client_id="someone"))
    report = verify(state.audit.engine, state.ledger)
    assert not report.ok
    assert any("content differs" in p for p in report.problems)


def test_removed_row_is_detected(api: Api) -> None:
    _traffic(api)
    _digest_and_sequence(api)
    state = api.http.app.state.hub
    with state.audit.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == 4))  # the last covered row
    report = verify(state.audit.engine, state.ledger)
    assert any("rows removed or inserted" in p for p in report.problems)


def test_inserted_row_is_detected(api: Api) -> None:
    _traffic(api)
    _digest_and_sequence(api)
    state = api.http.app.state.hub
    with state.audit.engine.begin() as conn:
        row = dict(conn.execute(select(audit_log).where(audit_log.c.id == 1)).one()._mapping)
        row["id"] = 0  # a forged earlier access slipped in before the first row
        conn.execute(insert(audit_log).values(**row))
        conn.execute(update(audit_log).where(audit_log.c.id == 1).values(outcome="denied"))
    assert not verify(state.audit.engine, state.ledger).ok


def _hub(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["HUB_HOME"] = str(api.settings.home)
    env["HUB_KEY_PASSPHRASE"] = api.settings.key_passphrase
    return subprocess.run(
        [str(Path(sys.executable).with_name("hub")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_query_digest_and_verify(api: Api) -> None:
    _traffic(api)
    api.http.app.state.hub.audit.flush()
    q = _hub(api, "audit", "query", "--subject", PERSON, "--json")
    assert q.returncode == 0, q.stderr
    rows = json.loads(q.stdout)
    assert {r["client_id"] for r in rows} == {"approvals-a", "approvals-b"}
    assert {r["outcome"] for r in rows} == {"ok", "denied"}
    assert PERSON not in q.stdout  # the table holds keyed hashes, not the ID
    d = _hub(api, "audit", "digest")
    assert d.returncode == 0 and "checkpoint size 1" in d.stdout, d.stderr
    v = _hub(api, "audit", "verify")
    assert v.returncode == 0 and "audit log intact" in v.stdout, v.stderr
    with api.http.app.state.hub.audit.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 1).values(purpose="other"))
    v = _hub(api, "audit", "verify")
    assert v.returncode == 1 and "TAMPERED" in v.stderr
