"""The counselor's side through /api/v1 with a personal token, the way an integration uses it."""

import threading

import pytest
from sqlalchemy import select

from flows import texts
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.db import make_engine, make_session_factory
from storage.models import Consultation, Organization

PASSWORD = "correct horse battery"


@pytest.fixture
def make_staff(app, clock):
    def _make(login="counselor1", role="counselor", org_slug=None):
        svc = app.extensions["tsunagu"]
        with svc.sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            if org_slug:
                org = consultation_repo.organization_by_slug(db, org_slug) or Organization(
                    slug=org_slug, name=org_slug, created_at=clock())
                db.add(org)
                db.flush()
            member = staff_repo.create(db, login, PASSWORD, role, org, clock())
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make


def finish_intake(user, topic="息子が部屋から出てきません"):
    for step in ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労"]:
        user.says(step)
    user.says(topic)


def test_without_credentials_the_api_answers_401(client):
    assert client.get("/api/v1/queue").status_code == 401
    assert client.get("/api/v1/queue", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_whole_consultation_through_the_api(client, make_user, make_staff, clock):
    auth = make_staff()
    calm, in_crisis = make_user(), make_user()
    finish_intake(calm)
    clock.advance(minutes=5)
    in_crisis.says("もう死にたい")

    queue = client.get("/api/v1/queue", headers=auth).json["queue"]
    assert [q["risk"] for q in queue] == ["high", "none"]  # the crisis user is ahead
    calm_row = queue[1]
    assert calm_row["intake"] == {"who": "family", "age_band": "40s", "area": "札幌市", "concern": "work"}
    assert calm_row["pseudonym"].startswith("相談者-") and calm_row["waiting_seconds"] == 300

    cid = calm_row["id"]
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=auth).status_code == 200
    assert calm.last_text == texts.COUNSELOR_JOINED
    other = make_staff("counselor2")
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=other).status_code == 409

    r = client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "はじめまして、相談員です。"})
    assert r.status_code == 201
    assert calm.last_text == "はじめまして、相談員です。"
    assert calm.received[-1]["via"] == "push"

    calm.says("よろしくお願いします")
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    assert detail["messages"][-1]["text"] == "よろしくお願いします"
    sent = [m for m in detail["messages"] if m["sender"] == "counselor"]
    assert sent[0]["status"] == "sent"

    r = client.post(f"/api/v1/consultations/{cid}/close", headers=auth,
                    json={"disposition": "referral", "referral": "family_association"})
    assert r.status_code == 200
    assert texts.CLOSING in calm.texts and calm.quick_replies == ["よかった", "ふつう", "よくなかった"]


def test_the_survey_answer_is_recorded(app, client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/close", headers=auth, json={"disposition": "information"})
    user.postback(f"survey=good&c={cid}")
    with app.extensions["tsunagu"].sessions() as s:
        assert s.get(Consultation, cid).survey == "good"


def test_a_user_saying_shuryo_ends_an_active_consultation_and_the_counselor_sees_it(client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    user.says("終了")
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    assert detail["state"] == "closed"
    assert any(m["sender"] == "system" and "終了" in m["text"] for m in detail["messages"])


def test_bad_input_is_a_400_not_a_500(client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, data="x").status_code == 400
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=auth,
                       json={"disposition": "referral"}).status_code == 400
    assert client.get("/api/v1/consultations/99999", headers=auth).status_code == 404


def test_a_counselor_cannot_open_another_organizations_consultation(client, user, make_staff):
    # With no member routing rules loaded it waits in the shared queue, which every member sees (issue 10);
    # once a counselor of one member takes it, it is that member's, and the others no longer see it.
    ours = make_staff(org_slug="our-npo")
    theirs = make_staff("elsewhere", org_slug="other-npo")
    finish_intake(user)
    cid = client.get("/api/v1/queue", headers=ours).json["queue"][0]["id"]
    assert [q["id"] for q in client.get("/api/v1/queue", headers=theirs).json["queue"]] == [cid]
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=ours).status_code == 200
    assert client.get(f"/api/v1/consultations/{cid}", headers=theirs).status_code == 403
    assert client.get("/api/v1/queue", headers=theirs).json["queue"] == []
    assert client.get(f"/console/c/{cid}", headers=theirs).status_code == 403


def test_no_line_user_id_in_any_console_json(client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    queue = client.get("/api/v1/queue", headers=auth)
    cid = queue.json["queue"][0]["id"]
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth)
    for response in (queue, detail):
        assert user.user_id not in response.get_data(as_text=True)


def test_two_claims_at_once_exactly_one_wins(app, database_url, user, clock):
    """Run on SQLite and, in CI, on PostgreSQL: two sessions race the same conditional UPDATE."""
    finish_intake(user)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as db:
        cid = db.scalar(select(Consultation.id))
    barrier = threading.Barrier(2)
    results = []

    def attempt(staff_id):
        with sessions.begin() as db:
            barrier.wait()
            results.append(consultation_repo.claim(db, cid, staff_id, clock()))

    with sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        a = staff_repo.create(db, "racer-a", PASSWORD, "counselor", org, clock()).id
        b = staff_repo.create(db, "racer-b", PASSWORD, "counselor", org, clock()).id
    threads = [threading.Thread(target=attempt, args=(sid,)) for sid in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert sorted(results) == [False, True]


def test_a_consultation_is_transferred_to_another_counselor_with_a_note(client, user, make_staff):
    auth, other = make_staff(), make_staff("counselor2")
    finish_intake(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/transfer", headers=auth,
                    json={"to": "counselor2", "note": "夜の担当へ"})
    assert r.status_code == 200 and r.json["counselor"] == "counselor2"
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "x"}).status_code == 409
    reply = client.post(f"/api/v1/consultations/{cid}/messages", headers=other, json={"text": "引き継ぎました"})
    assert reply.status_code == 201
    assert user.last_text == "引き継ぎました"


def test_coordinators_manage_canned_replies_and_counselors_use_them(client, make_staff):
    counselor, coordinator = make_staff(), make_staff("coord", role="coordinator")
    assert client.post("/api/v1/canned", headers=counselor, json={"title": "t", "text": "x"}).status_code == 403
    r = client.post("/api/v1/canned", headers=coordinator, json={"title": "あいさつ", "text": "こんばんは。"})
    assert r.status_code == 201
    assert [c["title"] for c in client.get("/api/v1/canned", headers=counselor).json["canned"]] == ["あいさつ"]
