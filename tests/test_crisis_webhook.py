"""Safety first: a crisis message gets emergency contacts at once, in any state and at any hour, in short
bubbles that never contradict each other; its consultation jumps the queue, alerts the counselors, and
is never closed by a keyword, a block or a timeout — only by staff."""

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.jobs import run_all
from flows import consultation as domain
from flows import texts
from flows.triage import assess
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import Consultation, Message, Organization, OutboxMessage

CRISIS = "もう死にたい。今日で終わりにしようと思う"  # imminent with the current rules
HIGH = "もう死にたい"
IMMINENT = "薬を全部飲んだ"
FIRST_BUBBLES = (texts.CRISIS_FIRST_HIGH, texts.CRISIS_FIRST_IMMINENT, texts.CRISIS_FIRST_FAMILY)
YORISOI, INOCHI_FREE, INOCHI_NAVI, INOCHI_SOS, UNIFIED = (
    "0120-279-338", "0120-783-556", "0570-783-556", "0120-061-338", "0570-064-556")
PASSWORD = "correct horse battery"


def tokyo(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h - 9, mi, tzinfo=UTC) if h >= 9 else datetime(y, mo, d - 1, h + 15, mi, tzinfo=UTC)


NIGHT_3AM_TOKYO = tokyo(2026, 11, 24, 3)  # a Tuesday, nothing special


def has_emergency_contacts(text):
    """The emergency message's first bubble: 119/110 and one line to call now (the lines open now follow)."""
    return text in FIRST_BUBBLES and "119" in text and "110" in text


def emergency_sends(user):
    """Each emergency message starts with its first bubble."""
    return [t for t in user.texts if has_emergency_contacts(t)]


def only_consultation(app):
    with app.extensions["tsunagu"].sessions() as s:
        return s.scalar(select(Consultation).order_by(Consultation.id.desc()))


def start_intake(user):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.taps("本人")


def finish_intake(user, who="本人"):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.taps(who)
    user.taps("20代")
    user.taps("札幌市")
    user.taps("仕事・就労")
    user.says("働きたいけど電話がこわいです")


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


@pytest.fixture
def make_staff(app, clock):
    def _make(login="counselor1", role="counselor", org_slug=None):
        svc = app.extensions["tsunagu"]
        with svc.sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            if org_slug:
                org = Organization(slug=org_slug, name=org_slug, created_at=clock())
                db.add(org)
                db.flush()
            member = staff_repo.create(db, login, PASSWORD, role, org, clock())
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make


# --- emergency contacts, at once -----------------------------------------------------------------------


@pytest.mark.parametrize("situation", ["first message", "mid-intake", "waiting", "outside hours"])
def test_a_crisis_message_gets_emergency_contacts_within_five_seconds(app, user, clock, situation):
    if situation == "mid-intake":
        start_intake(user)
    elif situation == "waiting":
        finish_intake(user)
    elif situation == "outside hours":
        clock.set(NIGHT_3AM_TOKYO)
    before = len(user.texts)
    elapsed = timed(lambda: user.says(CRISIS))
    assert elapsed < 5
    assert len(emergency_sends(user)) == 1
    reply = user.texts[before:]
    assert "119" in reply[0] and "110" in reply[0]  # the first bubble: call now
    assert any(YORISOI in t for t in reply)  # a 24-hour line, open at any hour
    c = only_consultation(app)
    assert c.state == "waiting" and c.risk_level in ("high", "imminent") and c.risk_cues


def test_the_emergency_message_is_short_bubbles_in_one_reply_and_jumps_the_outbox(app, user):
    user.says(CRISIS)
    assert user.texts[0] == texts.CRISIS_FIRST_IMMINENT
    assert 3 <= len(user.received) <= 5  # one reply request: 119/110, open lines, status
    assert {m["via"] for m in user.received} == {"reply"}
    assert all(len(t) <= 400 for t in user.texts)  # no 20-line wall of text
    with app.extensions["tsunagu"].sessions() as s:
        assert s.scalar(select(OutboxMessage.priority)) > 0


def test_a_crisis_mid_intake_skips_the_remaining_questions(app, user):
    start_intake(user)
    user.says(CRISIS)
    c = only_consultation(app)
    assert c.state == "waiting" and c.who == "self" and c.flow_step is None


def test_figurative_speech_gets_no_emergency_message(app, user):
    user.says("死ぬほど眠いけど相談したい")
    assert emergency_sends(user) == []
    assert only_consultation(app).risk_level == "none"


def test_contacts_are_repeated_at_most_once_per_30_minutes_unless_imminent(app, user, clock):
    user.says("死にたい")
    user.says("死にたい気持ちが消えない")
    assert len(emergency_sends(user)) == 1
    clock.advance(minutes=31)
    user.says("やっぱり死にたい")
    assert len(emergency_sends(user)) == 2


def test_a_flagged_consultation_is_first_in_the_queue_before_older_unflagged_ones(app, make_user, clock):
    calm = make_user()
    finish_intake(calm)
    clock.advance(minutes=20)
    in_crisis = make_user()
    in_crisis.says(CRISIS)
    with app.extensions["tsunagu"].sessions() as s:
        queue = consultation_repo.queue(s)
        assert [c.risk_level for c in queue][0] in ("high", "imminent")
        assert queue[0].queued_at > queue[1].queued_at


def test_a_crisis_outside_hours_says_when_counselors_return_and_is_first_at_opening(app, make_user, clock):
    clock.set(NIGHT_3AM_TOKYO)
    user = make_user()
    user.says(CRISIS)
    assert "受付時間外" in user.last_text
    clock.set(NIGHT_3AM_TOKYO + timedelta(hours=14))  # 17:00 JST
    other = make_user()
    finish_intake(other)
    with app.extensions["tsunagu"].sessions() as s:
        assert consultation_repo.queue(s)[0].risk_level in ("high", "imminent")


# --- never closed by a keyword, a block or a timeout -----------------------------------------------------


@pytest.mark.parametrize("word", ["終わり", "終了", "おわり", "やめる", "キャンセル"])
def test_an_imminent_user_typing_a_closing_word_stays_open_and_assigned(app, client, user, make_staff, word):
    auth = make_staff()
    user.says(IMMINENT)
    cid = only_consultation(app).id
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=auth).status_code == 200

    user.says(word)
    c = only_consultation(app)
    assert c.id == cid and c.state == "active" and c.counselor_id is not None and c.closed_at is None
    assert user.last_text == texts.AT_RISK_END
    assert texts.USER_ENDED not in user.texts
    detail = client.get(f"/api/v1/consultations/{cid}", headers=auth).json
    notices = [m["text"] for m in detail["messages"] if m["sender"] == "system"]
    assert texts.NOTICE_AT_RISK_END.format(word=word) in notices  # the counselor sees it
    # The counselor can still write, and only staff close it.
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=auth,
                       json={"text": "まだここにいますよ。"}).status_code == 201
    assert user.last_text == "まだここにいますよ。"
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=auth,
                       json={"disposition": "emergency"}).status_code == 200
    assert only_consultation(app).state == "closed"


def test_a_waiting_high_risk_user_typing_owari_stays_in_the_queue(app, user):
    user.says(HIGH)
    user.says("終わり")
    c = only_consultation(app)
    assert c.state == "waiting" and c.closed_at is None
    assert user.last_text == texts.AT_RISK_END


def test_without_risk_the_same_word_still_closes_the_consultation(app, client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    cid = only_consultation(app).id
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    user.says("終わり")
    assert only_consultation(app).state == "closed"
    assert user.last_text == texts.USER_ENDED


def test_a_user_at_risk_who_blocks_the_account_stays_open_for_staff(app, user):
    user.says(HIGH)
    user.blocks()
    c = only_consultation(app)
    assert c.state == "waiting"
    with app.extensions["tsunagu"].sessions() as s:
        notices = s.scalars(select(Message.text).where(Message.sender == "system")).all()
    assert texts.NOTICE_AT_RISK_BLOCKED in notices


def test_no_timeout_closes_a_consultation_at_risk(app, user, clock):
    start_intake(user)
    user.says(HIGH)
    clock.advance(days=3)
    run_all(app.extensions["tsunagu"])
    assert only_consultation(app).state == "waiting"


# --- one coherent set of words ------------------------------------------------------------------------


def test_a_user_at_risk_is_never_told_juban_after_being_promised_priority(app, user, clock):
    finish_intake(user)
    user.says(HIGH)
    promised = len(user.texts)
    assert texts.CRISIS_QUEUED in user.texts
    for minutes, words in [(1, "まだですか"), (4, "こわい"), (11, "待ってます")]:
        clock.advance(minutes=minutes)
        user.says(words)
        run_all(app.extensions["tsunagu"])
    after = user.texts[promised:]
    assert after, "the person hears back while waiting"
    assert all("順番" not in t for t in after)
    assert texts.AT_RISK_WAITING_ACK in after


@pytest.mark.parametrize("when,open_lines,closed_lines", [
    # A normal evening after hours (Monday 22:30): only the 24-hour line besides 119/110.
    (tokyo(2026, 11, 23, 22, 30), [YORISOI], [INOCHI_FREE, INOCHI_NAVI, INOCHI_SOS, UNIFIED]),
    # 21:30: the いのちの電話 navi line (10-22) is still open, its free line (16-21) is not.
    (tokyo(2026, 11, 23, 21, 30), [YORISOI, INOCHI_NAVI], [INOCHI_FREE, INOCHI_SOS, UNIFIED]),
    # The 10th at 03:00: the free line's monthly 24 hours begin at 08:00 on the 10th, not yet.
    (tokyo(2026, 12, 10, 3), [YORISOI], [INOCHI_FREE, INOCHI_NAVI, INOCHI_SOS, UNIFIED]),
    # The 11th at 03:00: still inside the 10th's 08:00-翌08:00 free line.
    (tokyo(2026, 12, 11, 3), [YORISOI, INOCHI_FREE], [INOCHI_NAVI, INOCHI_SOS, UNIFIED]),
])
def test_outside_hours_a_crisis_gets_only_lines_open_now_and_no_contradiction(app, user, clock, when,
                                                                             open_lines, closed_lines):
    clock.set(when)
    user.says(CRISIS)
    said = "\n".join(user.texts)
    for number in ["119", "110", *open_lines]:
        assert number in said
    for number in closed_lines:
        assert number not in said
    assert "優先してお返事" not in said  # no promise a closed service cannot keep
    assert "時間外でもつながります" not in said
    assert user.last_text.startswith("いまは相談員の受付時間外です")
    assert "次の受付は" in user.last_text


def test_outside_hours_the_generic_still_waiting_note_never_reaches_a_person_at_risk(app, user, clock):
    clock.set(NIGHT_3AM_TOKYO)
    user.says(CRISIS)
    told = len(user.texts)
    clock.advance(minutes=15)  # past WAITING_UPDATE_MINUTES, hours still closed
    run_all(app.extensions["tsunagu"])
    assert user.texts[told:] == []  # no 「もう少しだけお待ちください」 at 03:15 after 「次の受付は16:00から」


def test_in_hours_the_crisis_reply_promises_priority_once_and_names_the_open_lines(app, user):
    user.says(HIGH)  # 17:00 on a Monday
    said = "\n".join(user.texts)
    assert user.last_text == texts.CRISIS_QUEUED
    assert said.count("優先してお返事") == 1
    assert "受付時間外" not in said
    for number in [YORISOI, INOCHI_FREE, INOCHI_NAVI, INOCHI_SOS, UNIFIED]:
        assert number in said


@pytest.fixture
def reported_by_family(monkeypatch):
    """Triage decides whether the person at risk is someone else (its own tests check that); here the
    conversation's side: what a family member is told once triage says so."""
    def _assess(text):
        result = assess(text)
        return dataclasses.replace(result, about_other=True) if result.is_crisis else result

    monkeypatch.setattr(domain, "assess", _assess)


def test_a_crisis_reported_by_a_parent_gets_contacts_and_family_wording(app, user, reported_by_family):
    finish_intake(user, who="家族")
    before = len(user.texts)
    user.says("息子が死にたいと言っている")
    reply = user.texts[before:]
    assert reply[0] == texts.CRISIS_FIRST_FAMILY and "119" in reply[0]
    assert texts.CRISIS_FAMILY_WHAT_TO_DO in reply
    assert any(t.startswith(texts.CRISIS_LINES_HEADING_FAMILY) and YORISOI in t for t in reply)
    assert INOCHI_SOS not in "\n".join(reply)  # a line for the person at risk, not for families
    assert reply[-1] == texts.CRISIS_QUEUED_FAMILY
    assert texts.CRISIS_FIRST_HIGH not in reply
    c = only_consultation(app)
    assert c.risk_about_other and c.risk_level == "high"


# --- the console alert ----------------------------------------------------------------------------------


def test_an_at_risk_consultation_alerts_again_every_two_minutes_until_claimed(app, client, user, clock,
                                                                             make_staff):
    auth = make_staff()
    user.says(HIGH)
    [alert] = client.get("/api/v1/alerts", headers=auth).json["alerts"]
    assert alert["risk"] == "high" and alert["alert_count"] == 1 and alert["cues"]
    first_key = alert["key"]
    clock.advance(seconds=119)
    assert client.get("/api/v1/alerts", headers=auth).json["alerts"][0]["key"] == first_key
    clock.advance(seconds=1)
    [again] = client.get("/api/v1/alerts", headers=auth).json["alerts"]
    assert again["key"] != first_key and again["alert_count"] == 2
    c = only_consultation(app)
    assert c.alerted_at == clock() and c.alert_count == 2  # recorded, on the injected clock
    assert client.post(f"/api/v1/consultations/{c.id}/claim", headers=auth).status_code == 200
    clock.advance(minutes=5)
    assert client.get("/api/v1/alerts", headers=auth).json["alerts"] == []


def test_an_escalation_from_high_to_imminent_alerts_again(app, client, user, make_staff, clock):
    auth = make_staff()
    user.says(HIGH)
    key = client.get("/api/v1/alerts", headers=auth).json["alerts"][0]["key"]
    clock.advance(seconds=30)
    user.says(IMMINENT)
    [alert] = client.get("/api/v1/alerts", headers=auth).json["alerts"]
    assert alert["risk"] == "imminent" and alert["key"] != key


def test_alerts_reach_every_counselor_of_every_member_until_one_claims_it(app, client, user, make_staff):
    # Issue 10: a consultation at high or imminent risk is visible to every counselor on duty at once,
    # whatever member it was routed to; claimed, it is the claimer's and the alert ends for everyone.
    mine = make_staff()
    elsewhere = make_staff("counselor-other", org_slug="other-npo")
    user.says(HIGH)
    [alert] = client.get("/api/v1/alerts", headers=mine).json["alerts"]
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=elsewhere).json["alerts"]] == [alert["id"]]
    assert client.get("/api/v1/alerts").status_code == 401
    assert user.user_id not in client.get("/api/v1/alerts", headers=mine).get_data(as_text=True)
    assert client.post(f"/api/v1/consultations/{alert['id']}/claim", headers=elsewhere).status_code == 200
    assert client.get("/api/v1/alerts", headers=mine).json["alerts"] == []
    assert client.get(f"/api/v1/consultations/{alert['id']}", headers=mine).status_code == 403


# --- moderate is not ignored ----------------------------------------------------------------------------


def test_a_moderate_message_raises_priority_and_shows_its_cue_to_the_counselor(app, client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    user.says("生きてる意味がわからない")  # passive ideation (消えたい) is high since issue 9
    c = only_consultation(app)
    assert c.risk_level == "moderate" and c.risk_rank == 1
    assert emergency_sends(user) == []
    assert user.last_text == texts.MODERATE_ACK
    detail = client.get(f"/api/v1/consultations/{c.id}", headers=auth).json
    [flagged] = [m for m in detail["messages"] if m["risk"] == "moderate"]
    assert flagged["text"] == "生きてる意味がわからない" and flagged["cues"]


def test_three_moderate_messages_in_one_consultation_escalate_to_high(app, client, user, make_staff):
    auth = make_staff()
    finish_intake(user)
    user.says("もう限界です")
    user.says("生きてる意味がわからない")
    assert only_consultation(app).risk_level == "moderate"
    assert emergency_sends(user) == [] and client.get("/api/v1/alerts", headers=auth).json["alerts"] == []
    user.says("もう無理")
    c = only_consultation(app)
    assert c.risk_level == "high" and texts.MODERATE_ESCALATED_CUE in c.risk_cues
    assert emergency_sends(user) == [texts.CRISIS_FIRST_HIGH]
    assert len(client.get("/api/v1/alerts", headers=auth).json["alerts"]) == 1
    detail = client.get(f"/api/v1/consultations/{c.id}", headers=auth).json
    assert texts.NOTICE_MODERATE_ESCALATED.format(count=3) in [m["text"] for m in detail["messages"]]


def test_the_intake_timeout_sweep_never_closes_a_consultation_at_risk(app, user, clock):
    start_intake(user)
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as s:  # at risk while still in intake (the crisis step normally queues it)
        c = s.scalar(select(Consultation))
        c.risk_rank, c.risk_level = 3, "imminent"
    clock.advance(hours=2)
    with svc.sessions.begin() as s:
        assert domain.expire_intakes(s, svc.policy, clock()) == 0
    assert only_consultation(app).state == "intake"


def test_three_moderate_messages_outside_hours_escalate_too(app, user, clock):
    clock.set(NIGHT_3AM_TOKYO)
    user.says("もう限界です")
    clock.advance(minutes=20)
    user.says("生きてる意味がわからない")
    assert emergency_sends(user) == [] and only_consultation(app) is None
    clock.advance(minutes=20)
    user.says("もう無理")
    assert emergency_sends(user) == [texts.CRISIS_FIRST_HIGH]
    c = only_consultation(app)
    assert c.state == "waiting" and c.risk_level == "high"
    assert user.last_text.startswith("いまは相談員の受付時間外です")
