"""Outside the service hours a message gets a kind reply that names when to come back."""

from datetime import UTC, datetime

from sqlalchemy import select

from storage.models import Consultation, Message

NIGHT_1AM_TOKYO = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def test_outside_hours_the_reply_names_the_hours_and_the_next_opening(app, user, clock):
    clock.set(NIGHT_1AM_TOKYO)
    user.says("眠れなくて、誰かと話したいです")
    reply = user.last_text
    assert "受付時間外" in reply and "16:00〜21:00" in reply
    assert "今日の16:00" in reply  # 01:00 on the 24th: it opens later the same day


def test_the_message_is_kept_and_no_intake_starts(app, user, clock):
    clock.set(NIGHT_1AM_TOKYO)
    user.says("眠れなくて、誰かと話したいです")
    with app.extensions["tsunagu"].sessions() as s:
        assert s.scalar(select(Message.text).where(Message.direction == "in")) == "眠れなくて、誰かと話したいです"
        assert s.scalar(select(Consultation)) is None


def test_the_closed_hours_reply_is_not_repeated_for_every_message(user, clock):
    clock.set(NIGHT_1AM_TOKYO)
    user.says("こんばんは")
    user.says("やっぱりいいです")
    user.says("おやすみなさい")
    assert sum("受付時間外" in t for t in user.texts) == 1


def test_when_the_service_opens_the_same_user_starts_intake(user, clock):
    clock.set(NIGHT_1AM_TOKYO)
    user.says("こんばんは")
    clock.set(datetime(2026, 11, 24, 7, 5, tzinfo=UTC))  # 16:05 JST
    user.says("こんにちは、来ました")
    assert user.quick_replies == ["同意して進む", "やめておく"]
