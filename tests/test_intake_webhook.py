"""One consultation's intake, end to end: through the webhook, answered on the emulated phone."""

from datetime import timedelta

from sqlalchemy import select

from bot.jobs import expire_intakes
from flows import texts
from storage.models import Client, Consultation, Message


def consultations(app):
    with app.extensions["tsunagu"].sessions() as s:
        return list(s.scalars(select(Consultation).order_by(Consultation.id)))


def finish_intake(user, topic="息子が10年ほど部屋から出てきません"):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.taps("家族")
    user.taps("40代")
    user.taps("札幌市")
    user.taps("仕事・就労")
    user.says(topic)


def test_the_first_text_gets_the_consent_question_with_quick_replies(user):
    user.follows()
    user.says("相談してもいいですか")
    assert user.last_text == texts.CONSENT
    assert user.quick_replies == [texts.CONSENT_YES, texts.CONSENT_NO]


def test_the_full_intake_reaches_waiting_with_the_answers_recorded(app, user):
    user.follows()
    finish_intake(user)
    [c] = consultations(app)
    assert c.state == "waiting" and c.queued_at is not None
    assert (c.who, c.age_band, c.area, c.concern) == ("family", "40s", "札幌市", "work")
    assert "相談員につなぎます" in user.last_text


def test_each_question_offers_its_choices_as_quick_replies(user):
    user.says("こんばんは")
    user.taps("同意して進む")
    assert user.quick_replies == ["本人", "家族", "その他"]
    user.taps("本人")
    assert user.quick_replies == ["10代", "20代", "30代", "40代", "50代以上", "答えたくない"]
    user.taps("20代")
    assert user.quick_replies == ["札幌市", "旭川市", "函館市", "その他の地域", "答えたくない"]
    user.taps("答えたくない")
    assert user.quick_replies == list(texts.CONCERN_LABELS.values())


def test_typed_off_script_text_is_answered_kindly_and_the_question_repeated(user):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.says("うーん")
    assert user.texts[-2:] == [texts.INVALID, texts.WHO]


def test_yameru_ends_the_intake(app, user):
    user.says("こんばんは")
    user.taps("同意して進む")
    user.says("やめる")
    assert user.last_text == texts.CANCELLED
    assert consultations(app)[0].state == "closed"


def test_the_queue_message_counts_the_people_ahead(make_user):
    first, second = make_user(), make_user()
    finish_intake(first)
    finish_intake(second)
    assert first.last_text == texts.QUEUED_FIRST
    assert "1人の方がお待ちです" in second.last_text


def test_messages_sent_while_waiting_are_stored_for_the_counselor(app, user):
    finish_intake(user)
    user.says("補足です。夜になると少し話せます")
    [c] = consultations(app)
    with app.extensions["tsunagu"].sessions() as s:
        texts_in = [m.text for m in s.scalars(select(Message).where(Message.consultation_id == c.id,
                                                                   Message.direction == "in"))]
    assert "補足です。夜になると少し話せます" in texts_in
    assert user.last_text == texts.WAITING_ACK


def test_an_intake_left_silent_for_30_minutes_expires(app, user, clock):
    user.says("こんばんは")
    user.taps("同意して進む")
    clock.advance(minutes=31)
    assert expire_intakes(app.extensions["tsunagu"]) == 1
    assert consultations(app)[0].close_reason == "intake_expired"
    assert user.last_text == texts.EXPIRED


def test_writing_again_after_expiry_starts_afresh_without_asking_consent_twice(app, user, clock):
    user.says("こんばんは")
    user.taps("同意して進む")
    clock.advance(minutes=45)
    user.says("すみません、戻りました")
    assert user.last_text == texts.WHO
    assert [c.state for c in consultations(app)] == ["closed", "intake"]


def test_a_returning_user_is_welcomed_back_with_earlier_answers(app, user, clock):
    finish_intake(user)
    with app.extensions["tsunagu"].sessions.begin() as s:
        c = s.scalar(select(Consultation))
        c.state, c.closed_at = "closed", clock()
    clock.advance(days=3)
    user.says("また相談したいです")
    assert "家族・40代・札幌市・仕事・就労" in user.last_text
    user.taps("はい、同じです")
    assert user.last_text == texts.TOPIC


def test_follow_after_block_is_a_welcome_back_and_a_blocked_user_gets_nothing(app, user):
    user.follows()
    user.says("こんばんは")
    user.blocks()
    with app.extensions["tsunagu"].sessions() as s:
        client = s.scalar(select(Client))
        assert client.line_user_id is None and client.blocked_at is not None
    assert consultations(app)[0].state == "closed"
    before = len(user.received)
    user.follows()
    assert len(user.received) == before + 1
    assert user.last_text.startswith("おかえりなさい")


def test_a_sticker_during_intake_asks_for_text_and_repeats_the_question(line, user):
    user.says("こんばんは")
    sticker = line.platform.text_event(user.user_id, "x")
    sticker["message"] = {"type": "sticker", "id": "99", "quoteToken": "q", "packageId": "1", "stickerId": "1",
                          "stickerResourceType": "STATIC"}
    user.post([sticker])
    assert user.texts[-2:] == [texts.NON_TEXT_IN_INTAKE, texts.CONSENT]


def test_no_timestamp_in_the_database_is_naive(app, user, clock):
    finish_intake(user)
    c = consultations(app)[0]
    assert c.created_at.tzinfo is not None and c.queued_at - c.created_at == timedelta(0)
