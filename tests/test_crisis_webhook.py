"""Safety first: a crisis message gets emergency contacts at once, in any state and at any hour,
and its consultation goes to the head of the queue."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage import consultations as consultation_repo
from storage.models import Consultation, OutboxMessage

EMERGENCY_NUMBERS = ("0120-783-556", "0120-279-338", "119", "110")
CRISIS = "もう死にたい。今日で終わりにしようと思う"
NIGHT_3AM_TOKYO = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def has_emergency_contacts(text: str) -> bool:
    return all(number in text for number in EMERGENCY_NUMBERS)


def emergency_messages(user):
    return [t for t in user.texts if has_emergency_contacts(t)]


def only_consultation(app):
    with app.extensions["tsunagu"].sessions() as s:
        return s.scalar(select(Consultation).order_by(Consultation.id.desc()))


def start_intake(user):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.taps("本人")


def finish_intake(user):
    start_intake(user)
    user.taps("20代")
    user.taps("札幌市")
    user.taps("仕事・就労")
    user.says("働きたいけど電話がこわいです")


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


@pytest.mark.parametrize("situation", ["first message", "mid-intake", "waiting", "outside hours"])
def test_a_crisis_message_gets_emergency_contacts_within_five_seconds(app, user, clock, situation):
    if situation == "mid-intake":
        start_intake(user)
    elif situation == "waiting":
        finish_intake(user)
    elif situation == "outside hours":
        clock.set(NIGHT_3AM_TOKYO)
    elapsed = timed(lambda: user.says(CRISIS))
    assert elapsed < 5
    assert len(emergency_messages(user)) == 1
    c = only_consultation(app)
    assert c.state == "waiting" and c.risk_level in ("high", "imminent") and c.risk_cues


def test_the_emergency_contacts_come_first_in_the_reply_and_jump_the_outbox(app, user):
    user.says(CRISIS)
    assert has_emergency_contacts(user.texts[0])
    with app.extensions["tsunagu"].sessions() as s:
        assert s.scalar(select(OutboxMessage.priority)) > 0


def test_a_crisis_mid_intake_skips_the_remaining_questions(app, user):
    start_intake(user)
    user.says(CRISIS)
    c = only_consultation(app)
    assert c.state == "waiting" and c.who == "self" and c.flow_step is None


def test_figurative_speech_gets_no_emergency_message(app, user):
    user.says("死ぬほど眠いけど相談したい")
    assert emergency_messages(user) == []
    assert only_consultation(app).risk_level == "none"


def test_contacts_are_repeated_at_most_once_per_30_minutes_unless_imminent(app, user, clock):
    user.says("死にたい")
    user.says("死にたい気持ちが消えない")
    assert len(emergency_messages(user)) == 1
    clock.advance(minutes=31)
    user.says("やっぱり死にたい")
    assert len(emergency_messages(user)) == 2


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


def test_a_moderate_message_gets_a_gentle_acknowledgement_and_a_priority_raise(app, user):
    finish_intake(user)
    user.says("生きてる意味がわからない")  # passive ideation (消えたい) is high since issue 9
    c = only_consultation(app)
    assert c.risk_level == "moderate" and c.risk_rank == 1
    assert emergency_messages(user) == []
