"""Retention keeps its promise (issue 10): after RETENTION_DAYS no copy of what anyone wrote is left in any
table or column of the database, nor the LINE user ID of a client silent that long; counts, times, flags
and dispositions stay."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import MetaData, func, select

from bot import evening_jobs, jobs
from storage import consultations as consultation_repo
from storage import inbox
from storage import staff as staff_repo
from storage.models import Client, Consultation, InboxEvent, Message, OutboxMessage

PASSWORD = "correct horse battery"
USER_WORDS = "ひみつの話トマト"  # what a user wrote in the intake's free answer
LATER_WORDS = "あとで書いたキウイ"  # a message in the chat
FAILED_WORDS = "処理に失敗したメロン"  # an event whose processing failed for good
REPLY_WORDS = "相談員からのぶどう"  # a counselor's reply (delivered)
UNDELIVERED_WORDS = "届かなかったレモン"  # a counselor's reply LINE refused (a dead letter)
NOTE_WORDS = "相談員メモのりんご"
TRANSFER_WORDS = "引き継ぎメモのみかん"
OUTSIDE_WORDS = "夜中に書いたすいか"  # written outside hours (no consultation)


def svc(app):
    return app.extensions["tsunagu"]


def everything_in_the_database(engine) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every cell of every table the database has, reflected from the
    database itself (not the models), JSON decoded and re-encoded so escaped text is found too."""
    meta = MetaData()
    meta.reflect(bind=engine)
    cells = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, dict | list):
                        value = json.dumps(value, ensure_ascii=False)
                    text = str(value)
                    if text.startswith(("{", "[", '"')):
                        try:
                            text += " " + json.dumps(json.loads(text), ensure_ascii=False)
                        except ValueError:
                            pass
                    cells.append((table.name, column.name, text))
    return cells


def found(engine, needle: str) -> list[tuple[str, str]]:
    return [(t, c) for t, c, v in everything_in_the_database(engine) if needle in v]


@pytest.fixture
def staff(app, clock):
    with svc(app).sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        first = staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        staff_repo.create(db, "counselor2", PASSWORD, "counselor", org, clock())
        return {"Authorization": f"Bearer {staff_repo.issue_token(first, clock())}"}


def a_year_of_every_kind_of_text(app, make_user, client, staff, line, clock):
    """One client whose words are everywhere: intake, chat, notes, a transfer, a failed event, a dead
    letter, closed hours. Returns the user."""
    user = make_user()
    for step in ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "家族関係", f"{USER_WORDS}のこと"]:
        user.says(step)
    cid = client.get("/api/v1/queue", headers=staff).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=staff)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=staff, json={"text": REPLY_WORDS})
    user.says(LATER_WORDS)
    line.platform.fail_next(1, 400)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=staff, json={"text": UNDELIVERED_WORDS})
    assert evening_jobs.dead_letters(svc(app)) == 1
    client.post(f"/api/v1/consultations/{cid}/notes", headers=staff, json={"text": NOTE_WORDS})
    client.post(f"/api/v1/consultations/{cid}/transfer", headers=staff,
                json={"to": "counselor2", "note": TRANSFER_WORDS})
    with svc(app).sessions.begin() as db:  # an event that failed every attempt keeps its payload
        event = line.platform.text_event(user.user_id, FAILED_WORDS)
        inbox_id = inbox.store_once(db, event["webhookEventId"], event, clock())
        for _ in range(5):
            inbox.record_failure(db, inbox_id, "RuntimeError", clock(), 5)
    with svc(app).sessions.begin() as db:
        c = db.get(Consultation, cid)
        from flows.handoff import close

        close(db, c.counselor, c, "referral", "family_association", clock())
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=clock.now.tzinfo))  # 01:00 JST: closed
    user.says(OUTSIDE_WORDS)
    return user


def test_after_the_retention_period_no_copy_of_any_text_nor_the_line_id_is_left(
        app, db, make_user, client, staff, line, clock):
    user = a_year_of_every_kind_of_text(app, make_user, client, staff, line, clock)
    words = [USER_WORDS, LATER_WORDS, FAILED_WORDS, REPLY_WORDS, UNDELIVERED_WORDS, NOTE_WORDS, TRANSFER_WORDS,
             OUTSIDE_WORDS]
    before = {w: found(db, w) for w in words}
    assert all(before.values()), {w: p for w, p in before.items() if not p}  # each kind really was stored
    assert found(db, user.user_id)
    with svc(app).sessions() as s:
        counts = {m: s.scalar(select(func.count()).select_from(m)) for m in (Message, OutboxMessage, InboxEvent)}

    clock.advance(days=366)
    assert jobs.purge_old_text(svc(app)) > 0

    for w in words:
        assert found(db, w) == [], w
    assert found(db, user.user_id) == []
    # What stays: the rows (counts), times, flags and dispositions.
    with svc(app).sessions() as s:
        assert {m: s.scalar(select(func.count()).select_from(m)) for m in counts} == counts
        c = s.scalar(select(Consultation))
        assert (c.disposition, c.referral, c.who, c.concern, c.state) == (
            "referral", "family_association", "family", "family", "closed")
        assert c.queued_at and c.claimed_at and c.closed_at and c.first_response_at
        kept = s.scalars(select(Message).where(Message.direction == "in", Message.sender == "user")).all()
        assert kept and all(m.text is None and m.text_purged_at is not None for m in kept)
        assert s.scalar(select(OutboxMessage.status).where(OutboxMessage.dead_letter_at.is_not(None))) == "failed"
    assert jobs.purge_old_text(svc(app)) == 0  # nothing left to erase


def test_a_client_who_wrote_recently_keeps_their_line_id_and_a_returning_one_is_recognised(
        app, db, make_user, clock):
    old, recent = make_user(), make_user()
    old.says("こんばんは")
    clock.advance(days=300)
    recent.says("こんばんは")
    clock.advance(days=66)
    jobs.purge_old_text(svc(app))
    assert found(db, old.user_id) == [] and found(db, recent.user_id)
    old.says("またきました")  # same person (the keyed hash), reachable again
    with svc(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Client)) == 2
    assert found(db, old.user_id)
    assert old.received[-1]["text"]


def test_text_younger_than_the_retention_period_stays(app, db, make_user, client, staff, line, clock):
    a_year_of_every_kind_of_text(app, make_user, client, staff, line, clock)
    clock.advance(days=364)
    jobs.purge_old_text(svc(app))
    for w in (USER_WORDS, REPLY_WORDS, NOTE_WORDS, TRANSFER_WORDS, FAILED_WORDS):
        assert found(db, w), w


def test_a_long_unprocessed_event_is_given_up_when_its_payload_goes(app, line, user, clock):
    with svc(app).sessions.begin() as s:
        event = line.platform.text_event(user.user_id, "届いたまま")
        inbox.store_once(s, event["webhookEventId"], event, clock())
    clock.advance(days=366)
    jobs.purge_old_text(svc(app))
    with svc(app).sessions() as s:
        row = s.scalar(select(InboxEvent))
    assert row.payload is None and row.status == "failed"
    assert jobs.reprocess_stale_inbox(svc(app)) == 0

