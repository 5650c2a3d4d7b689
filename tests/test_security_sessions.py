"""Sessions and tokens that end: password change, disabling, absolute lifetime, token expiry and
revocation, the CLI that lists and revokes tokens, and the proxy setting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.cli import main
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import AuditEvent, Staff
from tests.test_security_findings import PASSWORD, client_from, csrf, login


@pytest.fixture
def counselor(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        member = staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        token = staff_repo.issue_token(member, clock(), days=90)
    return {"Authorization": f"Bearer {token}"}


def _member(db):
    return db.scalar(select(Staff).where(Staff.login == "counselor1"))


def test_a_password_change_ends_every_session_of_that_person(app, counselor, clock):
    browsers = [app.test_client(), app.test_client()]
    for b in browsers:
        assert login(b).status_code == 302
    with app.extensions["tsunagu"].sessions.begin() as db:
        staff_repo.set_password(db, _member(db), "a new long passphrase", clock())
    assert [b.get("/api/v1/queue").status_code for b in browsers] == [401, 401]
    assert login(browsers[0], password="a new long passphrase").status_code == 302


def test_logout_in_one_browser_ends_the_session_in_the_other(app, counselor):
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    first.post("/console/logout", data={"csrf_token": csrf(first, "/console/")})
    assert second.get("/api/v1/queue").status_code == 401


def test_disabling_an_account_ends_its_sessions_and_revokes_its_tokens(app, client, counselor, clock):
    login(client)
    assert client.get("/api/v1/queue", headers=counselor).status_code == 200
    with app.extensions["tsunagu"].sessions.begin() as db:
        staff_repo.disable(db, _member(db), clock())
        db.flush()
        tokens = staff_repo.tokens_of(db, _member(db) or db.scalar(select(Staff)))
        assert all(t.revoked_at is not None for t in tokens)
    assert client.get("/api/v1/queue").status_code == 401
    assert app.test_client().get("/api/v1/queue", headers=counselor).status_code == 401


def test_a_busy_session_still_ends_after_twelve_hours(app, client, counselor, clock):
    login(client)
    for _ in range(35):  # active every 20 minutes: never idle
        clock.advance(minutes=20)
        assert client.get("/api/v1/queue").status_code == 200
    clock.advance(minutes=40)  # 12 h 20 min after login
    assert client.get("/api/v1/queue").status_code == 401


def test_an_api_token_expires_and_can_be_revoked(app, client, counselor, clock):
    assert client.get("/api/v1/queue", headers=counselor).status_code == 200
    clock.advance(days=91)
    assert client.get("/api/v1/queue", headers=counselor).status_code == 401
    with app.extensions["tsunagu"].sessions.begin() as db:
        fresh = staff_repo.issue_token(_member(db), clock(), days=1)
        [_, row] = staff_repo.tokens_of(db, _member(db))
    auth = {"Authorization": f"Bearer {fresh}"}
    assert client.get("/api/v1/queue", headers=auth).status_code == 200
    with app.extensions["tsunagu"].sessions.begin() as db:
        assert staff_repo.revoke_token(db, row.id, clock())
    assert client.get("/api/v1/queue", headers=auth).status_code == 401


def test_the_cli_issues_lists_and_revokes_tokens(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert main(["staff", "add", "counselor1", "--role", "counselor", "--password-stdin"]) == 0
    assert main(["staff", "token", "counselor1", "--name", "intake-bot", "--days", "7"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("tsg_")
    assert main(["staff", "tokens", "counselor1"]) == 0
    listing = capsys.readouterr().out
    assert "intake-bot" in listing and "active" in listing and token not in listing
    token_id = int(listing.splitlines()[1].split()[0])
    assert main(["staff", "revoke-token", str(token_id)]) == 0
    assert main(["staff", "tokens", "counselor1"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["staff", "revoke-token", str(token_id)]) == 1  # already revoked
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("password1234\n"))
    assert main(["staff", "password", "counselor1", "--password-stdin"]) == 1  # too common
    assert main(["staff", "disable", "counselor1"]) == 0


@pytest.mark.parametrize("proxies, expected", [(0, "10.0.0.1"), (1, "198.51.100.7")])
def test_the_client_address_comes_from_x_forwarded_for_only_with_trusted_proxies(settings, clock, proxies,
                                                                                 expected):
    app = create_app(replace(settings, trusted_proxies=proxies), clock=clock)
    try:
        with app.extensions["tsunagu"].sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        browser = client_from(app, "10.0.0.1")
        token = csrf(browser)
        browser.post("/console/login", data={"login": "counselor1", "password": PASSWORD, "csrf_token": token},
                     headers={"X-Forwarded-For": "198.51.100.7"})
        with app.extensions["tsunagu"].sessions() as db:
            assert db.scalar(select(AuditEvent.ip).where(AuditEvent.action == "login")) == expected
    finally:
        app.extensions["tsunagu"].engine.dispose()


def test_failures_behind_a_trusted_proxy_count_per_real_address(settings, clock):
    app = create_app(replace(settings, trusted_proxies=1, login_address_limit=3), clock=clock)
    try:
        with app.extensions["tsunagu"].sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        proxy = client_from(app, "10.0.0.1")
        token = csrf(proxy)

        def attempt(address, name, password):
            return proxy.post("/console/login", data={"login": name, "password": password, "csrf_token": token},
                              headers={"X-Forwarded-For": address}).status_code

        assert [attempt("203.0.113.5", f"made-up-{i}", "wrong password!") for i in range(4)] == [401, 401, 401, 429]
        assert attempt("198.51.100.7", "counselor1", PASSWORD) == 302  # another person behind the same proxy
    finally:
        app.extensions["tsunagu"].engine.dispose()


def test_quiet_counters_and_dead_sessions_are_purged(app, client, counselor, clock):
    from bot.jobs import purge_security_records
    from storage.models import StaffSession, Throttle

    login(client)  # a session row and counters (login:, ip:)
    for _ in range(5):
        login(client, name="someone-else", password="wrong password!")  # a backoff starts
    svc = app.extensions["tsunagu"]
    assert purge_security_records(svc) == 0  # everything is recent
    clock.advance(hours=2)
    with svc.sessions() as db:
        keys_before = set(db.scalars(select(Throttle.key)))
    assert purge_security_records(svc) == len(keys_before)  # quiet for 2 h, backoff long over
    clock.advance(hours=12)
    assert purge_security_records(svc) == 1  # the session, past its absolute lifetime
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(StaffSession)) == 0
        assert db.scalar(select(func.count()).select_from(Throttle)) == 0
