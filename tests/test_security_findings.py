"""One regression test for each finding of the attacker's review (issue 13, "Why").

Each of these failed on the code before the hardening; the names say what the review found.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.config import SettingsError, load_settings
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import Client, Consultation, InboxEvent, Note
from tests.test_cli import ROOT, free_port, stop, wait_for

PASSWORD = "correct horse battery"


def csrf(client, path="/console/login"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def client_from(app, address):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def login(client, name="counselor1", password=PASSWORD):
    return client.post("/console/login", data={"login": name, "password": password, "csrf_token": csrf(client)})


@pytest.fixture
def make_staff(app, clock):
    def _make(login_name="counselor1", role="counselor", org_slug=None, max_active=None):
        from storage.models import Organization

        with app.extensions["tsunagu"].sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            if org_slug:
                org = consultation_repo.organization_by_slug(db, org_slug) or Organization(
                    slug=org_slug, name=org_slug, created_at=clock())
                db.add(org)
                db.flush()
            member = staff_repo.create(db, login_name, PASSWORD, role, org, clock())
            member.max_active = max_active
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make


def waiting_consultations(app, clock, n: int, org_slug: str | None = None) -> list[int]:
    """n consultations in the queue, made directly (the intake is tested elsewhere)."""
    ids = []
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = (consultation_repo.organization_by_slug(db, org_slug) if org_slug
               else consultation_repo.ensure_default_organization(db, clock()))
        for i in range(n):
            client = Client(user_hash=f"h{i:062d}", pseudonym=f"相談者-T{i:03d}", first_seen_at=clock(),
                            last_seen_at=clock())
            db.add(client)
            db.flush()
            c = consultation_repo.create(db, client, org, clock(), state="waiting")
            c.queued_at = clock()
            ids.append(c.id)
    return ids


# --- sessions ------------------------------------------------------------------------------------


def test_a_cookie_saved_before_logout_no_longer_reads_the_queue_or_writes_notes(app, client, make_staff, clock):
    make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    assert login(client).status_code == 302
    saved = client.get_cookie("session").value
    token = csrf(client, "/console/")
    assert client.get("/api/v1/queue").status_code == 200
    client.post("/console/logout", data={"csrf_token": token})
    client.set_cookie("session", saved)  # the attacker replays the cookie saved before logout
    assert client.get("/api/v1/queue").status_code == 401
    r = client.post(f"/api/v1/consultations/{cid}/notes", json={"text": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 401
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Note)) == 0


def test_a_session_ends_after_thirty_idle_minutes(app, client, make_staff, clock):
    make_staff()
    login(client)
    clock.advance(minutes=29)
    assert client.get("/api/v1/queue").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/api/v1/queue").status_code == 401


# --- login throttling ------------------------------------------------------------------------------


def test_wrong_passwords_from_anywhere_only_slow_the_right_one_down(app, make_staff, clock):
    make_staff()
    for i in range(5):
        attacker = client_from(app, f"198.51.100.{i}")
        assert login(attacker, password="wrong password!").status_code == 401
    owner = client_from(app, "192.0.2.10")
    refused = login(owner)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 60  # a short wait, not a 15-minute lockout
    clock.advance(seconds=wait)
    assert login(owner).status_code == 302


def test_failed_made_up_logins_from_the_shared_proxy_address_do_not_block_everyone(app, client, make_staff):
    make_staff()
    for i in range(10):
        assert login(client, name=f"nobody{i}", password="wrong password!").status_code == 401
    assert login(client).status_code == 302  # same address, a real counselor, the right password


def test_forty_parallel_attempts_check_at_most_the_limit_of_passwords(app, make_staff, monkeypatch):
    make_staff()
    checked = []
    real = staff_repo.check_password

    def counting(staff, password):
        checked.append(1)
        return real(staff, password)

    monkeypatch.setattr(staff_repo, "check_password", counting)
    clients = [client_from(app, f"203.0.113.{i}") for i in range(40)]
    tokens = [csrf(c) for c in clients]
    barrier = threading.Barrier(40)
    statuses = []

    def attempt(c, token):
        barrier.wait()
        r = c.post("/console/login", data={"login": "counselor1", "password": "wrong password!", "csrf_token": token})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(c, t)) for c, t in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) == [401, 429]
    assert len(checked) <= 5


def test_an_unknown_login_costs_a_password_hash_check_like_a_known_one(app, client, make_staff, monkeypatch):
    make_staff()
    from argon2 import PasswordHasher

    calls = []
    real = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(1)
        return real(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    assert login(client, name="no-such-login", password="wrong password!").status_code == 401
    assert len(calls) == 1


def test_failed_logins_and_logouts_are_in_the_audit_log(app, client, make_staff):
    make_staff()
    login(client, password="wrong password!")
    login(client)
    client.post("/console/logout", data={"csrf_token": csrf(client, "/console/")})
    from storage.models import AuditEvent

    with app.extensions["tsunagu"].sessions() as db:
        actions = [a for (a,) in db.execute(select(AuditEvent.action).order_by(AuditEvent.id))]
    assert actions == ["login_failed", "login", "logout"]


# --- settings and passwords -----------------------------------------------------------------------


def test_a_short_secret_key_is_refused():
    env = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "x"}
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(env)


@pytest.mark.parametrize("password", ["password", "short-pass1", "password1234", "123456789012", "qwertyuiopas"])
def test_weak_admin_passwords_are_refused(app, clock, password):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        with pytest.raises(ValueError):
            staff_repo.create(db, "admin1", password, "admin", org, clock())


# --- transfer answers ------------------------------------------------------------------------------


def test_a_transfer_to_another_organizations_login_answers_like_an_unknown_login(app, client, make_staff, clock):
    auth = make_staff()
    make_staff("elsewhere", org_slug="other-npo")
    [cid] = waiting_consultations(app, clock, 1)
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=auth).status_code == 200
    other = client.post(f"/api/v1/consultations/{cid}/transfer", headers=auth, json={"to": "elsewhere"})
    unknown = client.post(f"/api/v1/consultations/{cid}/transfer", headers=auth, json={"to": "nobody-at-all"})
    assert (other.status_code, other.json) == (unknown.status_code, unknown.json)


# --- headers ---------------------------------------------------------------------------------------


def test_console_and_api_answers_carry_the_security_headers(app, client, make_staff, clock):
    auth = make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    login(client)
    for path, headers in [("/console/login", {}), ("/console/", {}), (f"/console/c/{cid}", {}),
                          ("/api/v1/queue", auth)]:
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers.get("X-Frame-Options") == "DENY"
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("Referrer-Policy") in ("no-referrer", "same-origin")
        assert "no-store" in r.headers.get("Cache-Control", "")


def test_console_pages_hold_no_inline_script(app, client, make_staff, clock):
    make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    login(client)
    for path in ["/console/login", "/console/", f"/console/c/{cid}"]:
        page = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
        assert scripts == [] or all('src="' in attrs and not body.strip() for attrs, body in scripts), path
        assert not re.search(r"\son[a-z]+=", page), path


# --- bad input ---------------------------------------------------------------------------------------


def test_a_twenty_digit_id_in_a_url_is_a_404_not_a_500(client, make_staff):
    auth = make_staff()
    big = "9" * 20
    assert client.get(f"/api/v1/consultations/{big}", headers=auth).status_code == 404
    assert client.post(f"/api/v1/consultations/{big}/claim", headers=auth).status_code == 404
    assert client.get(f"/api/v1/consultations/{2**31}", headers=auth).status_code == 404


@pytest.mark.parametrize("referral", [{}, [], ["medical"], {"a": 1}])
def test_a_referral_that_is_not_a_string_is_a_400(app, client, make_staff, clock, referral):
    auth = make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/close", headers=auth,
                    json={"disposition": "referral", "referral": referral})
    assert r.status_code == 400


def test_one_event_with_a_string_delivery_context_does_not_drop_its_neighbours(app, client, line, user):
    user.follows()
    bad = line.platform.text_event(user.user_id, "こんばんは")
    bad["deliveryContext"] = "oops"
    bad["webhookEventId"] = "01BADBADBADBADBADBADBADBAD"
    good = line.platform.text_event(user.user_id, "こんばんは")
    before = len(user.received)
    assert user.post([bad, good]).status_code == 200
    assert len(user.received) > before  # the valid event was answered
    with app.extensions["tsunagu"].sessions() as db:
        stored = set(db.scalars(select(InboxEvent.webhook_event_id)))
    assert good["webhookEventId"] in stored


def test_json_nested_thousands_deep_is_a_400(client, line, make_staff):
    deep = b'{"events":[' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
    r = client.post("/callback", data=deep, content_type="application/json",
                    headers={"X-Line-Signature": line.platform.sign(deep)})
    assert r.status_code == 400
    auth = make_staff("coord", role="coordinator")
    r = client.post("/api/v1/canned", headers={**auth, "Content-Type": "application/json"},
                    data=b'{"title":' + b"[" * 20_000 + b"]" * 20_000 + b"}")
    assert r.status_code == 400


def test_a_text_with_a_nul_character_is_answered(app, user):
    user.follows()
    before = len(user.received)
    assert user.says("こんばんは\u0000よろしく").status_code == 200
    assert len(user.received) > before
    with app.extensions["tsunagu"].sessions() as db:
        assert set(db.scalars(select(InboxEvent.status))) == {"done"}


def test_a_console_message_with_a_nul_character_is_a_400_not_a_500(app, client, make_staff, clock):
    auth = make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/notes", headers=auth, json={"text": "メモ\u0000"})
    assert r.status_code in (201, 400)
    r = client.post(f"/api/v1/consultations/{cid}/messages", headers={**auth, "Content-Type": "application/json"},
                    data='{"text": "\\ud800"}')
    assert r.status_code in (201, 400)


def test_the_server_refuses_a_huge_body_before_reading_it(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "DATABASE_URL", "TEST_DATABASE"))}
    env.update({"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "LINE_API_BASE_URL": "http://127.0.0.1:9",
                "LOG_LEVEL": "WARNING", "SCHEDULER": "off", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz") == 200
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 100000000\r\n\r\n" + b"a" * 1000)
            answer = s.recv(200)  # no body beyond 1 kB is sent: the answer must not wait for 100 MB
        assert answer.startswith(b"HTTP/1.1 413")
    finally:
        stop(proc)


# --- limits ------------------------------------------------------------------------------------------


def test_ten_simultaneous_claims_by_one_counselor_respect_the_limit_of_three(app, make_staff, clock):
    auth = make_staff()
    ids = waiting_consultations(app, clock, 10)
    barrier = threading.Barrier(10)
    statuses = []

    def claim(cid):
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post(f"/api/v1/consultations/{cid}/claim", headers=auth).status_code)

    threads = [threading.Thread(target=claim, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {200, 409}
    with app.extensions["tsunagu"].sessions() as db:
        active = db.scalar(select(func.count()).select_from(Consultation).where(Consultation.state == "active"))
    assert active == statuses.count(200) == 3


def test_a_transfer_respects_the_recipients_limit(app, client, make_staff, clock):
    auth = make_staff()
    full = make_staff("counselor2")
    ids = waiting_consultations(app, clock, 4)
    for cid in ids[:3]:
        assert client.post(f"/api/v1/consultations/{cid}/claim", headers=full).status_code == 200
    assert client.post(f"/api/v1/consultations/{ids[3]}/claim", headers=auth).status_code == 200
    r = client.post(f"/api/v1/consultations/{ids[3]}/transfer", headers=auth, json={"to": "counselor2"})
    assert r.status_code == 409
    with app.extensions["tsunagu"].sessions() as db:
        assert db.get(Consultation, ids[3]).counselor.login == "counselor1"


def test_a_note_over_the_size_cap_is_refused_not_cut(app, client, make_staff, clock):
    auth = make_staff()
    [cid] = waiting_consultations(app, clock, 1)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/notes", headers=auth, json={"text": "あ" * 20_000})
    assert r.status_code in (400, 413)
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Note)) == 0


def test_the_api_is_rate_limited_per_token(client, make_staff):
    auth = make_staff()
    statuses = [client.get("/api/v1/queue", headers=auth).status_code for _ in range(150)]
    assert statuses[0] == 200 and 429 in statuses
    refused = client.get("/api/v1/queue", headers=auth)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    other = make_staff("counselor2")  # another token has its own budget
    assert client.get("/api/v1/queue", headers=other).status_code == 200


# --- the emulator ------------------------------------------------------------------------------------


def test_the_emulator_never_learns_its_webhook_address_from_a_host_header(settings, clock):
    app = create_app(replace(settings, line_emulator=True), clock=clock)
    try:
        app.test_client().get("/healthz", headers={"Host": "attacker.example"})
        assert app.extensions["line_emulator"].webhook_url is None
    finally:
        app.extensions["tsunagu"].engine.dispose()


def test_the_emulator_cannot_be_on_with_the_real_line_api():
    env = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40,
           "LINE_EMULATOR": "on"}
    with pytest.raises(SettingsError, match="LINE_EMULATOR"):
        load_settings(env)


def test_serve_refuses_to_start_with_the_emulator_and_the_real_line_api(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "DATABASE_URL", "TEST_DATABASE"))}
    env.update({"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40,
                "LINE_EMULATOR": "on", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PYTHONPATH": str(ROOT)})
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port())], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "LINE_EMULATOR" in done.stderr


def test_the_emulator_control_routes_answer_only_on_loopback(settings, clock):
    app = create_app(replace(settings, line_emulator=True), clock=clock)
    try:
        remote = client_from(app, "203.0.113.9")
        assert remote.get("/line-emulator/_emulator/users").status_code == 404
        assert remote.post("/line-emulator/_emulator/faults", json={"count": 1}).status_code == 404
        assert remote.get("/simulator/").status_code == 404
        local = app.test_client()
        assert local.get("/line-emulator/_emulator/users").status_code == 200
    finally:
        app.extensions["tsunagu"].engine.dispose()


def test_a_json_body_in_a_webhook_is_stored_as_valid_json(app, client, line, user):
    """Sanity: a normal event is still stored and processed once (the hardening changes nothing else)."""
    user.follows()
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(InboxEvent)) == 1
    assert json.loads(line.platform.body([]))["events"] == []
