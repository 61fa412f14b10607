"""Sign-in, sign-out and CSRF through the real app (HTTP, no browser): the security promises."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.pages.accounts import StaffAccounts
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import engine_for

PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    StaffAccounts(engine_for(settings.db_url), cheap).add("alice", "admin", PASSWORD)
    with TestClient(api_app(settings, background=False)) as c:
        yield c


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def _login(client: TestClient, next_: str = "/catalog") -> str:
    token = _token(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": next_},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return answer.headers["location"]


def test_sign_in_opens_the_catalogue_and_sign_out_kills_the_old_cookie(client: TestClient) -> None:
    assert client.get("/catalog", follow_redirects=False).status_code == 303
    assert _login(client) == "/catalog"
    assert client.get("/catalog").status_code == 200
    stolen = client.cookies.get("hub_session")
    token = _token(client.get("/catalog").text)
    assert (
        client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    client.cookies.set("hub_session", stolen)  # replaying the cookie from before sign-out
    answer = client.get("/catalog", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_session_id_changes_at_sign_in(client: TestClient) -> None:
    before_token = _token(client.get("/login").text)
    _login(client)
    after_token = _token(client.get("/catalog").text)
    assert before_token != after_token  # no session fixation: a new id, a new token


def test_login_refuses_missing_csrf_and_foreign_redirects(client: TestClient) -> None:
    answer = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert _login(client, "https://evil.example/phish") == "/catalog"
    assert _login(client, "//evil.example/") == "/catalog"
    assert _login(client, "/catalog/ps_household") == "/catalog/ps_household"


def test_cookie_is_http_only_and_same_site(client: TestClient) -> None:
    header = client.get("/verify").headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header


def test_unknown_dataset_is_a_404_page(client: TestClient) -> None:
    _login(client)
    answer = client.get("/catalog/no_such_dataset")
    assert answer.status_code == 404 and "没有这个数据集" in answer.text


def test_repeated_wrong_passwords_pause_the_name_for_that_address(client: TestClient) -> None:
    token = _token(client.get("/login").text)
    wrong = {"csrf_token": token, "username": "alice", "password": "not it at all"}
    for _ in range(4):
        assert client.post("/login", data=wrong).status_code == 401
    paused = client.post("/login", data=wrong)  # the fifth: a pause starts
    assert paused.status_code == 429 and int(paused.headers["retry-after"]) >= 1
    right = {**wrong, "password": PASSWORD}
    answer = client.post("/login", data=right, follow_redirects=False)
    assert answer.status_code == 429 and "this address" in answer.text
