"""Console login: hashed passwords, CSRF on every form and session-cookie change, rate-limited failures."""

import re

import pytest

from storage import consultations as consultation_repo
from storage import staff as staff_repo

PASSWORD = "correct horse battery"


@pytest.fixture
def counselor(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        member = staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        assert member.password_hash.startswith("$argon2")
    return "counselor1"


def csrf(client, path="/console/login"):
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def login(client, password=PASSWORD, token=None):
    token = token or csrf(client)
    return client.post("/console/login", data={"login": "counselor1", "password": password, "csrf_token": token})


def test_a_counselor_logs_in_and_sees_the_workspace(client, counselor):
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    page = client.get("/console/").get_data(as_text=True)
    assert all(f'id="{pane}"' in page for pane in ("queue", "mine", "chat", "info"))  # lists, chat, details
    assert "待機中" in page and "担当中" in page


def test_the_console_needs_a_login(client):
    assert client.get("/console/").status_code == 302


def test_a_form_without_the_csrf_token_is_refused(client, counselor):
    client.get("/console/login")
    response = client.post("/console/login", data={"login": "counselor1", "password": PASSWORD})
    assert response.status_code == 400


def test_a_state_change_on_the_session_cookie_needs_the_csrf_header(client, counselor, user):
    login(client)
    for step in ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労", "相談です"]:
        user.says(step)
    cid = client.get("/api/v1/queue").json["queue"][0]["id"]
    assert client.post(f"/api/v1/consultations/{cid}/claim").status_code == 400
    token = csrf(client, "/console/")
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers={"X-CSRF-Token": token}).status_code == 200


def test_wrong_passwords_are_rate_limited(client, counselor):
    for _ in range(5):
        assert login(client, password="wrong password!").status_code == 401
    assert login(client).status_code == 429  # even the right password waits now


def test_the_session_cookie_is_httponly_and_samesite(client, counselor):
    response = login(client)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_audit_log_records_claims_and_is_for_admins_only(app, client, counselor, clock):
    login(client)
    assert client.get("/console/audit").status_code == 403
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        staff_repo.create(db, "admin1", PASSWORD, "admin", org, clock())
    other = app.test_client()
    token = csrf(other)
    other.post("/console/login", data={"login": "admin1", "password": PASSWORD, "csrf_token": token})
    page = other.get("/console/audit").get_data(as_text=True)
    assert "login" in page and "counselor1" in page
