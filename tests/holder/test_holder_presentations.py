"""Presentations (亮证码): made by the holder, redeemed by an approval system or at /verify."""

from __future__ import annotations

import json
import re
from typing import Any

from holder_app import PURPOSE, Hub
from holder_world import ENTITY_USCC, PERSON_ID, QUALIFICATION
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holder import presentations as core
from holder.store import presentations as table
from licence.trust import export_bundle, offline_context
from licence.verify import TOTAL_PASSED, verify_input


def _make(hub: Hub, disclose: list[str], **extra: Any) -> Any:
    if "hub_holder" not in hub.http.cookies:
        assert hub.sign_in().status_code == 303
    csrf = hub.csrf("/me")
    return hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.qualification, "disclose": disclose, **extra},
        headers={"X-CSRF-Token": csrf},
    )


def _redeem(hub: Hub, code: str, client: str = "approvals-a", purpose: str = PURPOSE) -> Any:
    return hub.http.post(f"/v1/presentations/{code}/redeem", headers=hub.headers(client, purpose))


def test_redeem_returns_only_the_disclosed_licence_receipt_and_a_green_verdict(hub: Hub) -> None:
    made = _make(hub, ["occupation", "level", "证照名称"], qr_image=True)
    assert made.status_code == 201, made.text
    body = made.json()
    code = body["code"]
    assert len(code) == 24 and body["url"].endswith(f"/p/{code}")
    assert body["qr"].startswith("data:image/png;base64,")
    assert "certificate_number" in body["hidden"] and "持证主体代码" in body["hidden"]
    # the code is stored only as its hash
    with hub.app.state.hub.library.engine.connect() as conn:
        stored = " ".join(str(v) for r in conn.execute(table.select()) for v in r)
    assert code not in stored
    got = _redeem(hub, code)
    assert got.status_code == 200, got.text
    out = got.json()
    bad = [(c["check"], c["reason"], c["en"]) for c in out["checks"] if c["status"] != "PASSED"]
    assert out["verdict"] == "TOTAL_PASSED", bad
    text = json.dumps(out, ensure_ascii=False)
    assert PERSON_ID not in text and QUALIFICATION["certificate_number"] not in text
    assert out["licence"]["fields"]["occupation"]["value"] == "电工"
    assert set(out["licence"]["fields"]["持证主体代码"]) == {"digest"}
    # what the approval system keeps also verifies offline, with its receipt
    kept = json.dumps({"licence": out["licence"], "receipt": out["receipt"]}).encode()
    report = verify_input(kept, offline_context(export_bundle(hub.world.svc), hub.world.anchors()))
    assert report.verdict == TOTAL_PASSED, report.to_text()


def test_second_use_and_expiry_are_410_with_a_clear_message(hub: Hub) -> None:
    made = _make(hub, ["occupation"]).json()
    assert made["qr"] is None  # drawn only when asked for: a holder app draws its own
    code = made["code"]
    assert _redeem(hub, code).status_code == 200
    again = _redeem(hub, code)
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    short = _make(hub, ["occupation"], lifetime_seconds=1).json()["code"]
    side = hub.app.state.holder_side
    side.presentations.clock = lambda: 2e9  # long after
    late = _redeem(hub, short)
    assert late.status_code == 410 and "expired" in late.json()["detail"]


def test_wrong_audience_is_403_and_does_not_spend_the_code(hub: Hub) -> None:
    code = _make(hub, ["occupation"], audience="approvals-b").json()["code"]
    wrong = _redeem(hub, code, "approvals-a")
    assert wrong.status_code == 403 and "another recipient" in wrong.json()["detail"]
    assert _redeem(hub, code, "approvals-b").status_code == 200


def test_wrong_purpose_is_403_and_does_not_spend_the_code(hub: Hub) -> None:
    code = _make(hub, ["occupation"], purpose="social-insurance").json()["code"]
    wrong = _redeem(hub, code)  # approvals-a declares another purpose
    assert wrong.status_code == 403 and "social-insurance" in wrong.json()["detail"]
    side = hub.app.state.holder_side
    found = side.presentations.redeem(code, audiences={"x"}, purpose="social-insurance")
    assert found.licence["fields"]["occupation"]["value"] == "电工"


def test_a_licence_suspended_after_its_code_was_made_is_not_green(hub: Hub) -> None:
    # the verdict reads the licence's status as of the redemption, not as of the code
    code = _make(hub, ["occupation"]).json()["code"]
    hub.world.svc.suspend(hub.world.qualification, "整改期间暂扣")
    out = _redeem(hub, code).json()
    status = next(c for c in out["checks"] if c["check"] == "status")
    assert out["verdict"] != "TOTAL_PASSED" and status["status"] != "PASSED", status


def test_each_redemption_is_audited_under_the_holder(hub: Hub) -> None:
    code = _make(hub, ["occupation", "level"]).json()["code"]
    _redeem(hub, code)
    _redeem(hub, code, "approvals-b")
    rows = [r for r in hub.audit() if r["route"] == "/v1/presentations/{code}/redeem"]
    assert [(r["client_id"], r["outcome"], r["status"]) for r in rows] == [
        ("approvals-b", "already-used", 410),
        ("approvals-a", "redeemed", 200),
    ]
    assert rows[1]["fields"].startswith("level,occupation,证照有效期")
    page = hub.http.get("/me/audit")
    assert "approvals-a" in page.text and "already-used" in page.text


def test_creation_refusals(hub: Hub) -> None:
    assert _make(hub, ["salary"]).status_code == 400
    assert _make(hub, ["occupation"], lifetime_seconds=301).status_code == 422
    someone_else = hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.business, "disclose": ["address"]},
        headers={"X-CSRF-Token": hub.csrf("/me")},
    )
    assert someone_else.status_code == 404  # the company's licence is not the citizen's
    no_csrf = hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.qualification, "disclose": ["occupation"]},
    )
    assert no_csrf.status_code == 403
    hub.http.cookies.clear()
    stranger = hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.qualification, "disclose": ["occupation"]},
    )
    assert stranger.status_code == 401
    hub.world.svc.suspend(hub.world.qualification, "核查中")
    assert _make(hub, ["occupation"]).status_code == 409
    assert ENTITY_USCC


def test_unknown_codes_and_clients_without_the_grant(hub: Hub) -> None:
    assert _redeem(hub, "a" * 24).status_code == 404
    code = _make(hub, ["occupation"]).json()["code"]
    refused = hub.http.post(
        f"/v1/presentations/{code}/redeem", headers=hub.headers("holder-app", "holder-service")
    )
    assert refused.status_code == 403
    assert _redeem(hub, code).status_code == 200  # the refusal did not spend it


def test_verify_page_redeems_a_pasted_code_once(hub: Hub) -> None:
    code = _make(hub, ["occupation", "level"]).json()["code"]
    hub.http.cookies.clear()  # the clerk's browser
    opened = hub.http.get(f"/p/{code}")
    assert opened.status_code == 200 and code in opened.text  # opening spends nothing
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', opened.text).group(1)
    link = f"https://hub.example.gov.cn/p/{code}"
    first = hub.http.post("/verify", data={"csrf_token": csrf, "qr": link})
    assert first.status_code == 200 and 'data-verdict="TOTAL_PASSED"' in first.text
    assert "电工" in first.text and QUALIFICATION["certificate_number"] not in first.text
    assert PERSON_ID not in first.text
    second = hub.http.post("/verify", data={"csrf_token": csrf, "qr": code})
    assert second.status_code == 410 and "已使用" in second.text
    outcomes = [r["outcome"] for r in hub.audit() if r["route"] == "/p/{code}"]
    assert outcomes == ["already-used", "redeemed"]


# ---- property: a redeemed presentation never contains a hidden field's value ---------------
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_redeemed_presentation_never_contains_a_hidden_value(hub: Hub, data: st.DataObject) -> None:
    side = hub.app.state.holder_side if hasattr(hub.app.state, "holder_side") else None
    if side is None:
        _make(hub, ["occupation"])
        side = hub.app.state.holder_side
    doc = hub.world.svc.document(hub.world.qualification)
    names = sorted(doc["fields"])
    shown = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    made = side.presentations.create(PERSON_ID, hub.world.qualification, shown)
    found = side.presentations.redeem(made.code)
    text = json.dumps(found.licence, ensure_ascii=False)
    assert set(shown) <= set(made.disclosed)
    assert set(made.disclosed) - set(shown) <= set(core.ALWAYS_SHOWN)
    for name in set(names) - set(made.disclosed):
        entry = doc["fields"][name]
        assert entry["salt"] not in text
        assert found.licence["fields"][name] == {"digest": entry["digest"]}
        value = json.dumps(entry["value"], ensure_ascii=False)
        # a value that is also shown elsewhere (e.g. the licence name twice) may appear there
        elsewhere = {
            json.dumps(doc["fields"][n]["value"], ensure_ascii=False) for n in made.disclosed
        }
        if value not in elsewhere and len(value) > 4:
            assert value not in text, name
    assert core.normalise_code(f"https://x/p/{made.code.upper()}") == made.code


def test_a_holder_cannot_mint_codes_without_limit(hub: Hub) -> None:
    answers = [_make(hub, ["occupation"]).status_code for _ in range(12)]
    assert answers[:10] == [201] * 10 and answers[-1] == 429


def test_the_holder_withdraws_a_code_shown_by_mistake(hub: Hub) -> None:
    code = _make(hub, ["occupation"]).json()["code"]
    page = hub.http.get("/me")
    ref = page.text.split('data-ref="')[1].split('"')[0]
    assert code not in page.text  # the page names codes by their hash only
    csrf = hub.csrf("/me")
    done = hub.http.post(
        f"/me/codes/{ref}/withdraw", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert 'data-ref="' not in hub.http.get("/me").text
    gone = _redeem(hub, code)
    assert gone.status_code == 410 and "withdrew" in gone.json()["detail"]
    outcomes = [r["outcome"] for r in hub.audit() if r["route"].startswith("/me/codes")]
    assert outcomes == ["withdrawn"]
