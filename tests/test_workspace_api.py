"""The workspace's API (issue 12) as the page and integrations meet it: one stream for the whole page
with unread counts and previews, read marks, views audited once per opening, reopening with a reason,
transfers the recipient sees, supervisors' notes and take-overs, labels, saved replies, and errors in
Japanese next to the field that caused them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.console import replies, texts
from flows import texts as bot_texts
from storage import consultations as consultation_repo
from storage import labels as label_repo
from storage import staff as staff_repo
from storage.models import AuditEvent, Consultation, Note, Organization, Staff

PASSWORD = "correct horse battery"
INTAKE = ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労"]


@pytest.fixture
def make_staff(app, clock):
    """A staff member with a bearer token (an organization made on first use); returns the headers."""
    def _make(login="counselor1", role="counselor", org_slug=None, name=None, max_active=None):
        with app.extensions["tsunagu"].sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            if org_slug:
                org = consultation_repo.organization_by_slug(db, org_slug) or Organization(
                    slug=org_slug, name=f"{org_slug}の会", created_at=clock())
                db.add(org)
                db.flush()
            member = staff_repo.create(db, login, PASSWORD, role, org, clock(), name)
            member.max_active = max_active
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make


def finish_intake(user, topic="息子が部屋から出てきません"):
    for step in INTAKE:
        user.says(step)
    user.says(topic)


def only_id(client, auth):
    [row] = client.get("/api/v1/queue", headers=auth).json["queue"]
    return row["id"]


def stream(client, auth, **params):
    r = client.get("/api/v1/workspace", headers=auth, query_string=params)
    assert r.status_code == 200, r.json
    return r.json


def audit_rows(app, action=None):
    with app.extensions["tsunagu"].sessions() as db:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return list(db.scalars(stmt))


def move_to_org(app, cid, slug, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.organization_by_slug(db, slug)
        db.get(Consultation, cid).organization_id = org.id


# --- the stream ----------------------------------------------------------------------------------------


def test_the_stream_lists_my_chats_and_the_queue_with_unread_counts_and_previews(client, make_user, make_staff):
    auth = make_staff()
    mine_user, waiting_user = make_user(), make_user()
    finish_intake(mine_user, "息子が部屋から出てきません")
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    finish_intake(waiting_user, "娘が昼夜逆転しています")

    data = stream(client, auth)
    [mine] = data["lists"]["mine"]
    [waiting] = data["lists"]["queue"]
    assert mine["id"] == cid and mine["unread"] == 7  # nothing read yet: the intake answers and the topic
    assert waiting["last"]["sender"] == "bot"  # the bot's "please wait" after the topic: one line, cut short
    assert waiting["last"]["text"].startswith("ありがとうございます。") and len(waiting["last"]["text"]) <= 60
    assert "\n" not in waiting["last"]["text"]
    assert waiting["waiting_since"] and waiting["unread"] == 7
    assert data["unread_total"] == 7

    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    client.post(f"/api/v1/consultations/{cid}/read", headers=auth, json={"message_id": detail["last_message_id"]})
    mine_user.says("まだ起きています")
    data = stream(client, auth)
    [mine] = data["lists"]["mine"]
    assert mine["unread"] == 1 and data["unread_total"] == 1
    assert mine["last"] == {"sender": "user", "text": "まだ起きています", "at": mine["last"]["at"], "at_label": "17:00"}


def test_an_unchanged_list_is_not_sent_again(client, make_user, make_staff, clock):
    auth = make_staff()
    finish_intake(make_user())
    first = stream(client, auth)
    clock.advance(minutes=5)  # the waiting time grows, but the page counts it from waiting_since
    again = stream(client, auth, v=first["version"])
    assert again["lists"] is None and again["version"] == first["version"]
    make_user().follows()
    finish_intake(make_user())
    changed = stream(client, auth, v=first["version"])
    assert len(changed["lists"]["queue"]) == 2


def test_the_open_chat_comes_in_the_stream_after_the_last_message_the_page_has(client, make_user, make_staff):
    auth = make_staff()
    user = make_user()
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "こんばんは"})
    user.says("よろしくお願いします")
    chat = stream(client, auth, chat=cid, after=detail["last_message_id"])["chat"]
    assert [(m["sender"], m["text"]) for m in chat["messages"]] == [("counselor", "こんばんは"),
                                                                   ("user", "よろしくお願いします")]
    sent = chat["messages"][0]
    assert chat["statuses"][str(sent["id"])] == "sent" and sent["time_label"] == "17:00"
    assert chat["stamp"] == detail["stamp"]  # nothing else changed: the page keeps what it has
    client.post(f"/api/v1/consultations/{cid}/notes", headers=auth, json={"text": "夜型の生活"})
    chat = stream(client, auth, chat=cid, after=chat["messages"][-1]["id"])["chat"]
    assert chat["messages"] == [] and [n["text"] for n in chat["notes"]] == ["夜型の生活"]


def test_the_stream_reads_the_database_so_any_web_process_answers_the_same(app, settings, clock, client, make_user,
                                                                           make_staff):
    auth = make_staff()
    user = make_user()
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    other = create_app(settings, clock=clock)  # a second web process on the same database
    try:
        elsewhere = other.test_client()
        detail = elsewhere.get(f"/api/v1/consultations/{cid}", headers=auth).json
        elsewhere.post(f"/api/v1/consultations/{cid}/read", headers=auth,
                       json={"message_id": detail["last_message_id"]})
        user.says("聞こえていますか")  # handled by the first process
        [mine] = stream(elsewhere, auth)["lists"]["mine"]
        assert mine["unread"] == 1 and mine["last"]["text"] == "聞こえていますか"
        assert stream(client, auth)["lists"]["mine"][0]["unread"] == 1  # the read mark made there counts here
    finally:
        svc = other.extensions["tsunagu"]
        svc.sender.stop()
        svc.engine.dispose()


def test_a_read_mark_never_moves_back_or_past_the_last_message(app, client, make_user, make_staff):
    auth = make_staff()
    user = make_user()
    finish_intake(user)
    cid = only_id(client, auth)
    last = client.get(f"/api/v1/consultations/{cid}", headers=auth).json["last_message_id"]
    assert client.post(f"/api/v1/consultations/{cid}/read", headers=auth, json={"message_id": 10**9}).status_code == 200
    assert client.post(f"/api/v1/consultations/{cid}/read", headers=auth, json={"message_id": 1}).status_code == 200
    user.says("もう一つ")
    [row] = stream(client, auth)["lists"]["queue"]
    assert row["unread"] == 1  # marked at `last` (not 10**9, not 1): exactly the new message is unread
    assert last > 1


def test_polling_the_stream_and_refreshing_a_chat_records_one_view_per_opening(app, client, make_user, make_staff,
                                                                                clock):
    auth = make_staff()
    finish_intake(make_user())
    cid = only_id(client, auth)
    for _ in range(5):
        client.get(f"/api/v1/consultations/{cid}", headers=auth)
        stream(client, auth, chat=cid)
        clock.advance(seconds=2)
    assert len(audit_rows(app, "view")) == 1
    clock.advance(minutes=15)  # opened again later: a new viewing
    client.get(f"/api/v1/consultations/{cid}", headers=auth)
    assert len(audit_rows(app, "view")) == 2


# --- visibility: nothing of another organization, on any new route or in the stream ------------------------


def test_the_stream_and_every_new_route_refuse_another_organizations_consultation(app, client, make_user,
                                                                                    make_staff, clock):
    ours = make_staff()
    theirs = make_staff("elsewhere", org_slug="other-npo")
    their_coordinator = make_staff("their-coord", role="coordinator", org_slug="other-npo")
    user = make_user()
    finish_intake(user)
    cid = only_id(client, ours)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=ours)
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = db.get(Consultation, cid).organization_id
        label_id = label_repo.create(db, org, "見守り", clock()).id

    for auth in (theirs, their_coordinator):
        data = stream(client, auth, chat=cid, after=0)
        assert data["lists"]["queue"] == [] and data["lists"]["mine"] == []
        assert not data["lists"]["watch"]
        assert data["chat"] == {"id": cid, "error": "forbidden"}
        assert user.user_id not in str(data) and "息子" not in str(data)
        for method, path, body in [
            ("get", f"/api/v1/consultations/{cid}", None),
            ("get", f"/api/v1/consultations/{cid}?watch=1", None),
            ("post", f"/api/v1/consultations/{cid}/read", {"message_id": 1}),
            ("post", f"/api/v1/consultations/{cid}/reopen", {"reason": "間違えて終了"}),
            ("post", f"/api/v1/consultations/{cid}/labels", {"label_id": label_id, "on": True}),
            ("post", f"/api/v1/consultations/{cid}/supervisor-notes", {"text": "見ています"}),
            ("post", f"/api/v1/consultations/{cid}/take-over", {}),
            ("get", f"/api/v1/canned?consultation={cid}", None),
            ("get", f"/console/c/{cid}", None),
        ]:
            r = getattr(client, method)(path, headers=auth, json=body)
            assert r.status_code == 403, (path, r.status_code)
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Note)) == 0
        assert db.get(Consultation, cid).counselor.login == "counselor1"


def test_the_consortium_role_watches_every_member_and_a_coordinator_only_their_own(app, client, make_user,
                                                                                    make_staff, clock):
    ours = make_staff()
    coordinator = make_staff("coord", role="coordinator")
    other_coordinator = make_staff("other-coord", role="coordinator", org_slug="other-npo")
    consortium = make_staff("lead", role="consortium", org_slug="other-npo")
    finish_intake(make_user())
    cid = only_id(client, ours)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=ours)
    assert [c["id"] for c in stream(client, coordinator)["lists"]["watch"]] == [cid]
    assert stream(client, other_coordinator)["lists"]["watch"] == []
    assert [c["id"] for c in stream(client, consortium)["lists"]["watch"]] == [cid]
    assert stream(client, ours)["lists"]["watch"] is None  # counselors have no watch list
    # The consortium lead opens it from the watch list: recorded as "watch", no reply allowed.
    detail = client.get(f"/api/v1/consultations/{cid}?watch=1", headers=consortium).json
    assert detail["can"]["supervise"] and not detail["can"]["reply"] and not detail["can"]["claim"]
    refused = client.post(f"/api/v1/consultations/{cid}/messages", headers=consortium, json={"text": "x"})
    assert refused.status_code == 409 and refused.json["error"] == "担当中の相談にだけ返信できます"
    assert [a.action for a in audit_rows(app) if a.consultation_id == cid][-1] == "watch"


# --- supervisors --------------------------------------------------------------------------------------


def test_a_supervisor_note_reaches_the_counselor_never_the_user_and_is_audited(app, client, user, make_staff):
    counselor, coordinator = make_staff(), make_staff("coord", role="coordinator", name="コーディネーターB")
    finish_intake(user)
    cid = only_id(client, counselor)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=counselor)
    assert client.post(f"/api/v1/consultations/{cid}/supervisor-notes", headers=counselor,
                       json={"text": "x"}).status_code == 403  # counselors write ordinary notes
    r = client.post(f"/api/v1/consultations/{cid}/supervisor-notes", headers=coordinator, json={"text": "  "})
    assert r.status_code == 400 and r.json == {"error": "本文を入力してください。", "code": "invalid", "field": "text",
                                               "fields": {"text": "本文を入力してください。"}}
    r = client.post(f"/api/v1/consultations/{cid}/supervisor-notes", headers=coordinator,
                    json={"text": "希死念慮の確認を"})
    assert r.status_code == 201
    [note] = client.get(f"/api/v1/consultations/{cid}", headers=counselor).json["notes"]
    assert (note["kind"], note["by"], note["text"]) == ("supervisor", "コーディネーターB", "希死念慮の確認を")
    assert all("希死念慮の確認を" not in t for t in user.texts)
    assert [a.action for a in audit_rows(app, "supervisor_note")] == ["supervisor_note"]


def test_a_supervisor_takes_a_chat_over_within_their_own_limit(app, client, user, make_user, make_staff):
    counselor = make_staff()
    coordinator = make_staff("coord", role="coordinator", name="コーディネーターB", max_active=1)
    finish_intake(user)
    cid = only_id(client, counselor)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=counselor)
    r = client.post(f"/api/v1/consultations/{cid}/take-over", headers=coordinator)
    assert r.status_code == 200 and r.json["counselor"] == "コーディネーターB"
    assert stream(client, counselor)["lists"]["mine"] == []
    refused = client.post(f"/api/v1/consultations/{cid}/messages", headers=counselor, json={"text": "x"})
    assert refused.status_code == 409
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=coordinator,
                       json={"text": "代わります"}).status_code == 201
    assert user.last_text == "代わります"
    transfers = client.get(f"/api/v1/consultations/{cid}", headers=counselor).json["transfers"]
    assert transfers[-1]["from"] == "counselor1" and transfers[-1]["to"] == "コーディネーターB"
    [row] = audit_rows(app, "take_over")
    assert row.detail == "from counselor1"
    # The coordinator's limit of one holds for a take-over as for a claim.
    finish_intake(make_user())
    second = only_id(client, counselor)
    r = client.post(f"/api/v1/consultations/{second}/take-over", headers=coordinator)
    assert r.status_code == 409 and r.json["error"] == "同時に担当できるのは1件までです"


# --- closed means closed; reopening ---------------------------------------------------------------------


def closed_one(client, auth, user):
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/close", headers=auth, json={"disposition": "information"})
    return cid


def test_a_closed_consultation_is_read_only_with_its_disposition(client, user, make_staff):
    auth = make_staff()
    cid = closed_one(client, auth, user)
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    assert detail["closed"]["disposition_label"] == "情報提供"
    assert not any(detail["can"][k] for k in ("reply", "transfer", "close", "note", "claim"))
    assert detail["can"]["reopen"]
    for path, body in [("messages", {"text": "まだいますか"}), ("notes", {"text": "追記"})]:
        r = client.post(f"/api/v1/consultations/{cid}/{path}", headers=auth, json=body)
        assert r.status_code == 409 and r.json["error"] == texts.CLOSED_READ_ONLY and r.json["field"] == "text"


def test_reopening_needs_a_reason_and_is_audited_with_it(app, client, user, make_staff):
    auth = make_staff()
    cid = closed_one(client, auth, user)
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=auth, json={"reason": " "})
    assert r.status_code == 400 and r.json["field"] == "reason" and r.json["error"] == "再開する理由を書いてください。"
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=auth, json={})
    assert r.status_code == 400 and r.json["fields"] == {"reason": "理由を入力してください。"}
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=auth, json={"reason": "終了を押し間違えました"})
    assert r.status_code == 200 and r.json["state"] == "active"
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    assert detail["closed"] is None and detail["can"]["reply"]
    assert [(n["kind"], n["text"]) for n in detail["notes"]] == [("reopen", "終了を押し間違えました")]
    assert [a.detail for a in audit_rows(app, "reopen")] == ["終了を押し間違えました"]
    r = client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "続けましょう"})
    assert r.status_code == 201
    assert user.last_text == "続けましょう"
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=auth, json={"reason": "もう一度"})
    assert r.status_code == 409  # it is open already


def test_a_counselor_who_never_held_it_cannot_reopen_and_nobody_when_the_client_came_back(app, client, user,
                                                                                          make_staff):
    auth, colleague, coordinator = make_staff(), make_staff("counselor2"), make_staff("coord", role="coordinator")
    cid = closed_one(client, auth, user)
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=colleague, json={"reason": "確認"})
    assert r.status_code == 403
    finish_intake(user, "また話したくて")  # the client started a new consultation since
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=coordinator, json={"reason": "続きのため"})
    assert r.status_code == 409 and "新しい相談が始まっています" in r.json["error"]
    with app.extensions["tsunagu"].sessions() as db:
        assert db.get(Consultation, cid).state == "closed"


def test_reopening_respects_the_limit(app, client, make_user, make_staff):
    auth = make_staff(max_active=1)
    cid = closed_one(client, auth, make_user())
    finish_intake(make_user())
    client.post(f"/api/v1/consultations/{only_id(client, auth)}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/reopen", headers=auth, json={"reason": "続き"})
    assert r.status_code == 409 and r.json["error"] == "同時に担当できるのは1件までです"


# --- transfers ---------------------------------------------------------------------------------------------


def test_the_recipient_sees_who_transferred_and_the_note_and_the_sender_gets_a_confirmation(client, user,
                                                                                          make_staff):
    sender = make_staff(name="相談員A")
    recipient = make_staff("counselor2", name="相談員B")
    finish_intake(user)
    cid = only_id(client, sender)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=sender)
    r = client.post(f"/api/v1/consultations/{cid}/transfer", headers=sender,
                    json={"to": "counselor2", "note": "家族会の案内まで済み"})
    assert r.status_code == 200 and r.json["confirmation"] == "相談員Bさんに引き継ぎました。"
    [notice] = stream(client, recipient)["transfers_in"]
    assert (notice["consultation_id"], notice["from"], notice["note"]) == (cid, "相談員A", "家族会の案内まで済み")
    assert stream(client, sender)["transfers_in"] == []
    detail = client.get(f"/api/v1/consultations/{cid}", headers=recipient).json
    assert detail["transfers"][-1]["note"] == "家族会の案内まで済み" and detail["can"]["reply"]
    assert any(m["sender"] == "system" and "相談員Aさんから相談員Bさんに引き継ぎました" in m["text"]
               for m in detail["messages"])
    assert stream(client, recipient)["transfers_in"] == []  # opened: seen


def test_a_transfer_to_nobody_is_refused_in_japanese_next_to_the_field(client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/transfer", headers=auth, json={"to": "nobody"})
    assert r.status_code == 400 and r.json["field"] == "to" and r.json["error"] == texts.TRANSFER_TO


# --- errors in Japanese ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "field", "message"), [
    ("messages", {"text": "あ" * 5001}, "text", "本文は5000文字以内にしてください。"),
    ("messages", {"text": ""}, "text", "本文を入力してください。"),
    ("messages", {}, "text", "本文を入力してください。"),
    ("messages", {"text": 5}, "text", "本文は文字で入力してください。"),
    ("messages", {"text": "a\u0000b"}, "text", "本文に使えない文字（制御文字）が含まれています。"),
    ("notes", {"text": " "}, "text", "本文を入力してください。"),
    ("close", {"disposition": "nonsense"}, "disposition", "終了の区分を選んでください。"),
    ("close", {"disposition": "referral"}, "referral", "紹介・リファーのときは紹介先を選んでください。"),
    ("close", {"disposition": "referral", "referral": {}}, "referral", "紹介先は文字で入力してください。"),
    ("transfer", {"to": ""}, "to", "引き継ぎ先を入力してください。"),
    ("read", {"message_id": -1}, "message_id", "既読の位置は0以上にしてください。"),
])
def test_every_refusal_is_in_japanese_and_names_its_field(client, user, make_staff, path, body, field, message):
    auth = make_staff()
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    r = client.post(f"/api/v1/consultations/{cid}/{path}", headers=auth, json=body)
    assert r.status_code == 400
    assert r.json["error"] == message and r.json["field"] == field
    assert not re.search(r"[A-Za-z]{3,}", r.json["error"])


def test_console_answers_without_a_login_or_the_csrf_token_are_japanese_too(app, client, make_staff, clock):
    make_staff()
    assert client.get("/api/v1/workspace").json["error"] == texts.LOGIN_REQUIRED
    with app.extensions["tsunagu"].sessions.begin() as db:
        sid = staff_repo.start_session(db, db.scalar(select(Staff)), clock())
    with client.session_transaction() as s:
        s["sid"], s["csrf"] = sid, "csrf-token"
    r = client.post("/api/v1/canned", json={"title": "t", "text": "x", "scope": "personal"})
    assert r.status_code == 400 and r.json["error"] == texts.CSRF


def test_validation_messages_cover_every_field_the_console_posts():
    from bot.console import schemas

    for model in (schemas.MessageIn, schemas.NoteIn, schemas.CloseIn, schemas.TransferIn, schemas.CannedIn,
                  schemas.ReadIn, schemas.ReopenIn, schemas.LabelIn, schemas.NewStaffForm, schemas.OwnPasswordForm,
                  schemas.LabelForm):
        for name in model.model_fields:
            assert name in texts.FIELD_LABELS, f"{model.__name__}.{name} has no Japanese name"


# --- saved replies and labels ----------------------------------------------------------------------------------


def test_saved_replies_personal_and_organization_wide_with_placeholders(client, user, make_staff):
    counselor = make_staff(name="相談員A")
    colleague = make_staff("counselor2")
    coordinator = make_staff("coord", role="coordinator")
    mine = {"title": "自分用", "text": "{相談者}さん、{担当者}です。", "scope": "personal"}
    assert client.post("/api/v1/canned", headers=counselor, json=mine).status_code == 201
    assert client.post("/api/v1/canned", headers=coordinator,
                       json={"title": "団体", "text": "{団体}です。"}).status_code == 201
    typo = {"title": "x", "text": "{相談者名}さん", "scope": "personal"}
    r = client.post("/api/v1/canned", headers=counselor, json=typo)
    assert r.status_code == 400 and r.json["field"] == "text" and "{相談者名}" in r.json["error"]
    assert client.post("/api/v1/canned", headers=counselor, json={"title": "x", "text": "y"}).status_code == 403
    finish_intake(user)
    cid = only_id(client, counselor)
    listed = client.get(f"/api/v1/canned?consultation={cid}", headers=counselor).json["canned"]
    pseudonym = client.get(f"/api/v1/consultations/{cid}", headers=counselor).json["pseudonym"]
    assert [(r["title"], r["scope"], r["rendered"]) for r in listed] == [
        ("自分用", "personal", f"{pseudonym}さん、相談員Aです。"), ("団体", "organization", "つなぐ相談窓口です。")]
    assert [r["title"] for r in client.get("/api/v1/canned", headers=colleague).json["canned"]] == ["団体"]


def test_placeholders_fill_in_what_they_know_and_name_what_they_do_not():
    assert replies.render("{相談者}さん、{担当者}です。{謎}", {"相談者": "相談者-AB12", "担当者": "A"}) == \
        "相談者-AB12さん、Aです。{謎}"
    assert replies.unknown_placeholders("{相談者}と{相談者名}と{ 空白 }") == ["相談者名"]


def test_labels_from_the_organization_go_on_and_off_and_show_in_the_list(app, client, user, make_staff, clock):
    auth = make_staff()
    make_staff("elsewhere", org_slug="other-npo")
    finish_intake(user)
    cid = only_id(client, auth)
    with app.extensions["tsunagu"].sessions.begin() as db:
        ours = label_repo.create(db, db.get(Consultation, cid).organization_id, "継続見守り", clock()).id
        theirs = label_repo.create(db, consultation_repo.organization_by_slug(db, "other-npo").id, "他団体", clock()).id
    r = client.post(f"/api/v1/consultations/{cid}/labels", headers=auth, json={"label_id": ours, "on": True})
    assert r.status_code == 200 and r.json["labels"] == [ours]
    assert client.post(f"/api/v1/consultations/{cid}/labels", headers=auth, json={"label_id": ours, "on": True}).json[
        "labels"] == [ours]  # twice is once
    r = client.post(f"/api/v1/consultations/{cid}/labels", headers=auth, json={"label_id": theirs, "on": True})
    assert r.status_code == 400 and r.json["field"] == "label_id"
    data = stream(client, auth)
    assert data["lists"]["queue"][0]["labels"] == [ours]
    assert data["lists"]["labels"] == [{"id": ours, "name": "継続見守り"}]  # the filter offers our labels only
    client.post(f"/api/v1/consultations/{cid}/labels", headers=auth, json={"label_id": ours, "on": False})
    assert stream(client, auth)["lists"]["queue"][0]["labels"] == []


# --- disabling a counselor ----------------------------------------------------------------------------------------


def test_disabling_a_counselor_returns_their_chats_to_the_queue_and_tells_the_user(app, client, user, make_staff,
                                                                                    clock):
    auth = make_staff()
    colleague = make_staff("counselor2")
    finish_intake(user, "もう死にたい")
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    from flows import handoff

    with app.extensions["tsunagu"].sessions.begin() as db:
        member = staff_repo.by_login(db, "counselor1")
        staff_repo.disable(db, member, clock())
        released = handoff.release_all(db, member, clock())
    assert [c.id for c in released] == [cid]
    app.extensions["tsunagu"].sender.kick()
    assert client.get("/api/v1/workspace", headers=auth).status_code == 401
    assert user.last_text == bot_texts.COUNSELOR_CHANGING
    data = stream(client, colleague)
    assert [c["id"] for c in data["lists"]["queue"]] == [cid]
    assert [a["id"] for a in data["alerts"]] == [cid]  # at risk: everyone is alerted again


def test_a_live_chat_shows_since_when_the_user_waits_for_an_answer(client, user, make_staff, clock):
    auth = make_staff()
    finish_intake(user)
    cid = only_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "こんばんは"})
    assert stream(client, auth)["lists"]["mine"][0]["reply_waiting_since"] is None
    clock.advance(minutes=3)
    user.says("聞いてもらえますか")
    [row] = stream(client, auth)["lists"]["mine"]
    assert row["reply_waiting_since"] == clock().isoformat()
    clock.advance(minutes=1)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "はい、聞いています"})
    assert stream(client, auth)["lists"]["mine"][0]["reply_waiting_since"] is None


def test_reading_a_chat_through_the_stream_alone_is_audited_too(app, client, user, make_staff, clock):
    auth = make_staff()
    finish_intake(user)
    cid = only_id(client, auth)
    assert stream(client, auth, chat=cid, after=0)["chat"]["messages"]  # every message, without opening it
    stream(client, auth, chat=cid, after=0)
    assert [(a.action, a.consultation_id) for a in audit_rows(app, "view")] == [("view", cid)]


BAD_DATE = "日付は今日までの日付（年-月-日）で入力してください。"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"kind": "became_famous"}, "kind", "マイルストーンを一覧から選んでください。"),
    ({"kind": "next_step"}, "next_step", "「次の一歩を決めた」のときは、次の一歩の内容を選んでください。"),
    ({"kind": "job_search", "occurred_on": "2099-01-01"}, "occurred_on", BAD_DATE),
    ({"kind": "job_search", "occurred_on": "yesterday"}, "occurred_on", BAD_DATE),
])
def test_a_refused_milestone_says_why_in_japanese_next_to_the_input(client, user, make_staff, body, field, message):
    auth = make_staff()
    finish_intake(user)
    cid = only_id(client, auth)
    r = client.post(f"/api/v1/consultations/{cid}/milestones", headers=auth, json=body)
    assert r.status_code == 400 and (r.json["error"], r.json["field"]) == (message, field)
