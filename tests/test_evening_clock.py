"""The evening clock (issue 10): the line opens, warns everyone waiting before it closes, closes kindly
(never a consultation at risk), prompts counselors about chats gone quiet, and raises messages that never
arrived. Jobs are called directly on a frozen clock: no sleeping."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import evening_jobs as jobs
from bot.app import create_app
from flows import texts
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import Consultation, Message, OutboxMessage
from tests.conftest import LineUser

TOKYO = ZoneInfo("Asia/Tokyo")
PASSWORD = "correct horse battery"


def jst(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def svc(app):
    return app.extensions["tsunagu"]


@pytest.fixture
def make_staff(app, clock):
    def _make(login="counselor1", role="counselor"):
        with svc(app).sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            member = staff_repo.create(db, login, PASSWORD, role, org, clock())
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make


@contextmanager
def app_with(settings, clock, line, **changes):
    """The service with other settings (hours, closed dates), and a user factory on it."""
    app = create_app(replace(settings, **changes), clock=clock)
    http = app.test_client()
    try:
        yield app, (lambda: LineUser(line.platform, http))
    finally:
        svc(app).sender.stop()
        svc(app).outbox.wait_idle()
        svc(app).gateway.close()
        svc(app).engine.dispose()


def waiting(user) -> None:
    for step in ["こんばんは", "同意して進む", "本人", "20代", "札幌市", "仕事・就労", "話を聞いてほしいです"]:
        user.says(step)


def state_of(app, user) -> str:
    with svc(app).sessions() as s:
        return s.scalars(select(Consultation.state).order_by(Consultation.id.desc())).first()


def consultation_id(client, auth) -> int:
    return client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]


# --- opening --------------------------------------------------------------------------------------------


def test_the_closed_hours_reply_names_the_next_opening_and_offers_to_tell_when_it_opens(user, clock):
    clock.set(jst(11, 23, 22, 0))
    user.says("こんばんは、誰かいますか")
    assert "明日（11月24日）の16:00" in user.last_text
    assert user.quick_replies == [texts.NOTIFY_ON_OPENING]


def test_a_user_who_asked_outside_hours_gets_one_push_when_the_line_opens(app, user, clock):
    clock.set(jst(11, 23, 22, 0))
    user.says("こんばんは、誰かいますか")
    user.postback("notify=opening")  # the 「開いたら知らせて」 quick reply
    assert user.last_text == texts.NOTIFY_ON_OPENING_OK.format(next_opening="明日（11月24日）の16:00")
    user.postback("notify=opening")  # asked twice: still one message
    clock.set(jst(11, 24, 15, 59))
    assert jobs.opening_notices(svc(app)) == 0
    clock.set(jst(11, 24, 16, 0))
    assert jobs.opening_notices(svc(app)) == 1
    assert user.last_text == texts.OPENING_NOTICE.format(closes="21:00")
    assert user.received[-1]["via"] == "push" and user.quick_replies == [texts.START_CONSULTATION]
    clock.set(jst(11, 24, 16, 1))
    assert jobs.opening_notices(svc(app)) == 0  # once, not every minute of the evening
    user.taps(texts.START_CONSULTATION)
    assert user.quick_replies == ["同意して進む", "やめておく"]  # the intake starts


def test_nobody_who_did_not_ask_is_pushed_at_opening(app, make_user, clock):
    clock.set(jst(11, 23, 22, 0))
    quiet = make_user()
    quiet.says("こんばんは")
    clock.set(jst(11, 24, 16, 0))
    assert jobs.opening_notices(svc(app)) == 0
    assert len(quiet.received) == 1


def test_asking_while_the_line_is_open_says_so_and_asks_for_nothing_later(app, user, clock):
    user.postback("notify=opening")  # an old quick reply tapped at 17:00
    assert user.last_text == texts.NOTIFY_ON_OPENING_NOW_OPEN
    clock.set(jst(11, 24, 16, 0))
    assert jobs.opening_notices(svc(app)) == 0


def test_a_holiday_is_skipped_the_reply_names_the_real_next_opening_and_the_push_waits_for_it(
        settings, clock, line):
    with app_with(settings, clock, line, closed_dates=(date(2026, 12, 31),)) as (app, make_user):
        user = make_user()
        clock.set(jst(12, 30, 22, 0))
        user.says("こんばんは")
        assert "1月1日（金）の16:00" in user.last_text  # not 「明日」: the 31st is closed
        user.postback("notify=opening")
        clock.set(jst(12, 31, 16, 0))
        assert jobs.opening_notices(svc(app)) == 0
        clock.set(jst(1, 1, 16, 0, year=2027))
        assert jobs.opening_notices(svc(app)) == 1


def test_split_evenings_close_warn_and_open_per_window(settings, clock, line):
    with app_with(settings, clock, line, service_hours="16:00-18:00,19:00-21:00") as (app, make_user):
        clock.set(jst(11, 23, 17, 0))
        waiter, asker = make_user(), make_user()
        waiting(waiter)
        clock.set(jst(11, 23, 17, 45))
        assert jobs.closing_notices(svc(app)) == 1
        assert waiter.last_text == texts.CLOSING_NOTICE.format(closes="18:00", next_opening="今日の19:00")
        clock.set(jst(11, 23, 18, 0))
        assert jobs.close_queue(svc(app)) == 1
        assert texts.QUEUE_CLOSED.format(next_opening="今日の19:00", hours="毎日 16:00〜18:00、19:00〜21:00") \
            in waiter.texts
        clock.set(jst(11, 23, 18, 30))
        asker.says("まだですか")
        assert "今日の19:00" in asker.last_text
        asker.postback("notify=opening")
        clock.set(jst(11, 23, 19, 0))
        assert jobs.opening_notices(svc(app)) == 1
        assert asker.last_text == texts.OPENING_NOTICE.format(closes="21:00")


def test_the_greeting_outside_hours_names_the_next_opening(user, clock):
    clock.set(jst(11, 23, 23, 30))
    user.follows()
    assert texts.GREETING_CLOSED_NOW.format(next_opening="明日（11月24日）の16:00") in user.last_text


# --- closing ----------------------------------------------------------------------------------------------


def test_at_2045_everyone_waiting_is_told_once_when_the_line_closes_and_what_happens_next(
        app, make_user, make_staff, client, clock):
    auth = make_staff()
    calm, at_risk, chatting = make_user(), make_user(), make_user()
    waiting(chatting)
    client.post(f"/api/v1/consultations/{consultation_id(client, auth)}/claim", headers=auth)
    waiting(calm)
    at_risk.says("もう死にたい")
    clock.set(jst(11, 23, 20, 44))
    assert jobs.closing_notices(svc(app)) == 0
    clock.set(jst(11, 23, 20, 45))
    assert jobs.closing_notices(svc(app)) == 2
    assert calm.last_text == texts.CLOSING_NOTICE.format(closes="21:00", next_opening="明日（11月24日）の16:00")
    assert at_risk.last_text == texts.CLOSING_NOTICE_AT_RISK.format(closes="21:00",
                                                                    next_opening="明日（11月24日）の16:00")
    assert texts.COUNSELOR_JOINED == chatting.last_text  # an active chat just goes on
    clock.set(jst(11, 23, 20, 55))
    assert jobs.closing_notices(svc(app)) == 0


def test_someone_who_joins_the_queue_after_2045_is_told_too(app, make_user, clock):
    clock.set(jst(11, 23, 20, 45))
    early = make_user()
    waiting(early)
    assert jobs.closing_notices(svc(app)) == 1
    clock.set(jst(11, 23, 20, 52))
    late = make_user()
    waiting(late)
    assert jobs.closing_notices(svc(app)) == 1
    assert texts.CLOSING_NOTICE.format(closes="21:00", next_opening="明日（11月24日）の16:00") == late.last_text


def test_at_2100_the_queue_is_closed_kindly_with_tomorrows_hours_and_the_lines_open_tonight(
        app, make_user, make_staff, client, clock):
    auth = make_staff()
    chatting, calm, at_risk, mid_intake = make_user(), make_user(), make_user(), make_user()
    waiting(chatting)
    client.post(f"/api/v1/consultations/{consultation_id(client, auth)}/claim", headers=auth)
    waiting(calm)
    at_risk.says("もう死にたい")
    mid_intake.says("こんばんは")
    clock.set(jst(11, 23, 20, 59))
    assert jobs.close_queue(svc(app)) == 0
    clock.set(jst(11, 23, 21, 0))
    assert jobs.close_queue(svc(app)) == 2  # the waiting one and the unfinished intake

    closed_text = texts.QUEUE_CLOSED.format(next_opening="明日（11月24日）の16:00", hours="毎日 16:00〜21:00")
    assert calm.texts[-2] == closed_text
    tonight = calm.texts[-1]
    assert tonight.startswith(texts.LINES_TONIGHT_HEADING) and "0120-279-338" in tonight  # よりそい, 24 h
    assert "0570-783-556" in tonight and "0120-783-556" not in tonight  # open until 22:00, not the 21:00 one
    assert "119" in tonight
    assert mid_intake.texts[-2].startswith("今日の受付時間が終わったので")

    with svc(app).sessions() as s:
        by_risk = {c.risk_level: c for c in s.scalars(select(Consultation))}
        assert by_risk["high"].state == "waiting" and by_risk["high"].close_reason is None  # never by the bot
        states = sorted(c.state for c in s.scalars(select(Consultation)))
        assert states == ["active", "closed", "closed", "waiting"]
        closed = s.scalars(select(Consultation).where(Consultation.state == "closed")).all()
        assert {c.close_reason for c in closed} == {"service_closed"}
    assert not any(t == closed_text for t in at_risk.texts) and not any(t == closed_text for t in chatting.texts)
    clock.set(jst(11, 23, 21, 5))
    assert jobs.close_queue(svc(app)) == 0


def test_the_person_at_risk_left_in_the_queue_is_first_when_the_line_opens(app, make_user, make_staff, client,
                                                                         clock):
    at_risk = make_user()
    at_risk.says("もう死にたい")
    clock.set(jst(11, 23, 21, 0))
    jobs.close_queue(svc(app))
    at_risk.says("まだいますか")
    assert "いちばん先にお返事します" in at_risk.last_text  # the crisis texts still apply
    clock.set(jst(11, 24, 16, 0))
    calm = make_user()
    waiting(calm)
    queue = client.get("/api/v1/queue", headers=make_staff()).json["queue"]
    assert [q["risk"] for q in queue] == ["high", "none"]


def test_a_user_who_writes_after_closing_gets_the_closed_hours_reply(app, make_user, clock):
    calm = make_user()
    waiting(calm)
    clock.set(jst(11, 23, 21, 0))
    jobs.close_queue(svc(app))
    clock.set(jst(11, 23, 21, 10))
    calm.says("まだ話せますか")
    assert "受付時間外" in calm.last_text and "明日（11月24日）の16:00" in calm.last_text


# --- idle chats ---------------------------------------------------------------------------------------------


def claimed_chat(client, user, auth):
    waiting(user)
    cid = consultation_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "こんばんは、相談員です。"})
    return cid


def test_a_chat_the_user_left_silent_prompts_the_counselor_who_may_close_it_as_dropped(
        app, user, make_staff, client, clock):
    auth = make_staff()
    cid = claimed_chat(client, user, auth)
    clock.advance(minutes=19)
    assert jobs.idle_prompts(svc(app)) == 0
    clock.advance(minutes=1)
    assert jobs.idle_prompts(svc(app)) == 1
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    assert detail["idle"] is True
    assert detail["messages"][-1]["text"] == texts.NOTICE_IDLE.format(minutes=20)
    assert detail["messages"][-1]["sender"] == "system"
    clock.advance(minutes=30)
    assert jobs.idle_prompts(svc(app)) == 0  # once per silence
    r = client.post(f"/api/v1/consultations/{cid}/close", headers=auth, json={"disposition": "dropped"})
    assert r.status_code == 200
    with svc(app).sessions() as s:
        assert s.get(Consultation, cid).disposition == "dropped"


def test_no_prompt_while_it_is_the_counselors_turn_and_a_new_silence_prompts_again(
        app, user, make_staff, client, clock):
    auth = make_staff()
    cid = claimed_chat(client, user, auth)
    clock.advance(minutes=5)
    user.says("じつは、話しにくいことがあって")
    clock.advance(minutes=60)  # the user wrote last: the counselor's turn, not the user's silence
    assert jobs.idle_prompts(svc(app)) == 0
    assert client.get(f"/api/v1/consultations/{cid}", headers=auth).json["idle"] is False
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "ゆっくりで大丈夫ですよ。"})
    clock.advance(minutes=20)
    assert jobs.idle_prompts(svc(app)) == 1


def test_an_idle_chat_at_risk_gets_the_careful_prompt(app, user, make_staff, client, clock):
    auth = make_staff()
    user.says("もう死にたい")
    cid = consultation_id(client, auth)
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "話してくれてありがとう。"})
    clock.advance(minutes=20)
    assert jobs.idle_prompts(svc(app)) == 1
    last = client.get(f"/api/v1/consultations/{cid}", headers=auth).json["messages"][-1]
    assert last["text"] == texts.NOTICE_IDLE_AT_RISK.format(minutes=20)


# --- dead letters ----------------------------------------------------------------------------------------------


def test_a_message_that_failed_for_good_alerts_coordinators_in_the_console(
        app, user, make_staff, client, line, clock):
    counselor, coordinator = make_staff(), make_staff("coord", role="coordinator")
    cid = claimed_chat(client, user, counselor)
    line.platform.fail_next(1, 400)  # LINE refuses the push: it will never pass
    client.post(f"/api/v1/consultations/{cid}/messages", headers=counselor, json={"text": "届かない返信"})
    with svc(app).sessions() as s:
        assert s.scalar(select(OutboxMessage.status).order_by(OutboxMessage.id.desc()).limit(1)) == "failed"
    assert client.get("/api/v1/dead-letters", headers=coordinator).json["dead_letters"] == []  # not raised yet
    assert jobs.dead_letters(svc(app)) == 1
    assert jobs.dead_letters(svc(app)) == 0

    listed = client.get("/api/v1/dead-letters", headers=coordinator).json["dead_letters"]
    assert len(listed) == 1
    letter = listed[0]
    assert letter["consultation_id"] == cid and letter["pseudonym"].startswith("相談者-")
    assert "届かない返信" not in str(letter) and user.user_id not in str(letter)  # no text, no LINE ID
    assert client.get("/api/v1/dead-letters", headers=counselor).status_code == 403
    chat = client.get(f"/api/v1/consultations/{cid}", headers=counselor).json
    assert chat["messages"][-1]["text"] == texts.NOTICE_UNDELIVERED

    assert client.post(f"/api/v1/dead-letters/{letter['id']}/ack", headers=coordinator).status_code == 200
    assert client.get("/api/v1/dead-letters", headers=coordinator).json["dead_letters"] == []
    assert client.post(f"/api/v1/dead-letters/{letter['id']}/ack", headers=coordinator).status_code == 404


def test_the_console_pages_show_coordinators_the_dead_letter_banner(app, make_staff):
    from bot.console import texts as console_texts
    from storage.models import Staff

    make_staff("coord", role="coordinator")
    make_staff("c1")
    for login, shown in (("coord", True), ("c1", False)):
        browser = app.test_client()
        with svc(app).sessions.begin() as db:  # a real server-side session, as a login would start it
            sid = staff_repo.start_session(db, db.scalar(select(Staff).where(Staff.login == login)), svc(app).clock())
        with browser.session_transaction() as sess:
            sess["sid"] = sid
        html = browser.get("/console/").get_data(as_text=True)
        assert ('id="dead-letters"' in html) is shown
        assert (console_texts.DEAD_LETTERS_HEADING in html) is shown


def test_every_evening_job_is_scheduled(app):
    from bot.jobs import JOBS

    assert set(jobs.JOBS) <= set(JOBS)


def test_messages_of_the_close_are_recorded_for_the_counselor(app, user, clock):
    waiting(user)
    clock.set(jst(11, 23, 21, 0))
    jobs.close_queue(svc(app))
    with svc(app).sessions() as s:
        notices = s.scalars(select(Message.text).where(Message.sender == "system")).all()
    assert texts.NOTICE_QUEUE_CLOSED in notices


# --- every sweep is safe to run twice at once (two processes, `tsunagu jobs` beside the scheduler) -------------


def test_two_opening_sweeps_at_once_push_each_user_once(app, settings, make_user, clock):
    from tests.test_jobs_idempotent import twice_at_once

    clock.set(jst(11, 23, 22, 0))
    people = [make_user() for _ in range(8)]
    for p in people:
        p.says("こんばんは")
        p.postback("notify=opening")
    clock.set(jst(11, 24, 16, 0))
    assert sum(twice_at_once(settings, clock, jobs.opening_notices)) == 8
    svc(app).outbox.send_due()
    assert all(p.texts.count(texts.OPENING_NOTICE.format(closes="21:00")) == 1 for p in people)


def test_two_closing_notice_sweeps_at_once_tell_each_user_once(app, settings, make_user, clock):
    from tests.test_jobs_idempotent import twice_at_once

    people = [make_user() for _ in range(6)]
    for p in people:
        waiting(p)
    clock.set(jst(11, 23, 20, 45))
    assert sum(twice_at_once(settings, clock, jobs.closing_notices)) == 6
    svc(app).outbox.send_due()
    notice = texts.CLOSING_NOTICE.format(closes="21:00", next_opening="明日（11月24日）の16:00")
    assert all(p.texts.count(notice) == 1 for p in people)


def test_two_closing_sweeps_at_once_close_each_consultation_once(app, settings, make_user, clock):
    from tests.test_jobs_idempotent import twice_at_once

    people = [make_user() for _ in range(6)]
    for p in people:
        waiting(p)
    clock.set(jst(11, 23, 21, 0))
    assert sum(twice_at_once(settings, clock, jobs.close_queue)) == 6
    svc(app).outbox.send_due()
    closed = texts.QUEUE_CLOSED.format(next_opening="明日（11月24日）の16:00", hours="毎日 16:00〜21:00")
    assert all(p.texts.count(closed) == 1 for p in people)


def test_two_idle_sweeps_at_once_prompt_once(app, settings, make_user, make_staff, client, clock):
    from tests.test_jobs_idempotent import twice_at_once

    auth = make_staff()
    chats = [claimed_chat(client, make_user(), auth) for _ in range(3)]
    clock.advance(minutes=20)
    assert sum(twice_at_once(settings, clock, jobs.idle_prompts)) == 3
    with svc(app).sessions() as s:
        prompts = s.scalars(select(Message.consultation_id).where(Message.kind == "idle_prompt")).all()
    assert sorted(prompts) == sorted(chats)


def test_two_dead_letter_sweeps_at_once_raise_each_once(app, settings, make_user, line, clock):
    from tests.test_jobs_idempotent import twice_at_once

    people = [make_user() for _ in range(5)]
    line.platform.fail_next(5, 400)
    for p in people:
        p.follows()  # the greeting is refused: failed for good
    assert sum(twice_at_once(settings, clock, jobs.dead_letters)) == 5
    with svc(app).sessions() as s:
        raised = s.scalars(select(OutboxMessage.dead_letter_at).where(OutboxMessage.status == "failed")).all()
    assert len(raised) == 5 and all(raised)
