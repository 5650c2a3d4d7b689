"""Nothing lost, nothing twice: the outbox against a failing LINE platform, and across a restart."""

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from bot.app import create_app
from flows import texts
from storage import outbox as outbox_repo
from storage.models import Client, OutboxMessage


def rows(app):
    with app.extensions["tsunagu"].sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def drain(app, clock, rounds=40, step=timedelta(minutes=5)):
    """Let time pass and run the sender as the background thread would."""
    sender = app.extensions["tsunagu"].outbox
    for _ in range(rounds):
        clock.now += step
        sender.send_due()
        if all(r.status != "pending" for r in rows(app)):
            return


def greetings(user):
    return [t for t in user.texts if t.startswith("友だち追加ありがとうございます")]


def test_500s_then_429s_then_a_stall_and_every_message_arrives_exactly_once(settings, user, line, clock):
    # A 10 s stall against a 2 s client timeout: the outcome is unknown to us, LINE may still act on it.
    app = create_app(replace(settings, line_api_timeout=2), clock=clock)
    user.http = app.test_client()
    line.platform.fail_next(3, 500)
    line.platform.fail_next(2, 429)
    line.platform.stall_next(1, 10)
    user.follows()
    user.says("こんばんは")
    assert user.received == []  # LINE is failing: nothing arrived yet, nothing is lost either
    drain(app, clock)
    assert len(greetings(user)) == 1
    assert user.texts.count(texts.CONSENT) == 1
    assert [r.status for r in rows(app)] == ["sent", "sent"]
    assert sum(r.attempts for r in rows(app)) >= 7
    app.extensions["tsunagu"].engine.dispose()


def test_an_hour_long_outage_loses_nothing(app, user, line, clock):
    line.platform.fail_next(10_000, 503)
    user.follows()
    for _ in range(12):  # an hour, in five-minute steps
        clock.advance(minutes=5)
        app.extensions["tsunagu"].outbox.send_due()
    assert user.received == [] and rows(app)[0].status == "pending"
    line.platform.clear_faults()
    drain(app, clock)
    assert len(greetings(user)) == 1


def test_pending_messages_are_sent_by_the_next_process_after_a_restart(app, settings, user, line, clock):
    line.platform.fail_next(10_000, 500)
    user.follows()
    user.says("こんばんは")
    app.extensions["tsunagu"].engine.dispose()  # the first process dies
    line.platform.clear_faults()
    clock.advance(minutes=2)
    restarted = create_app(settings, clock=clock)
    restarted.extensions["tsunagu"].outbox.send_due()
    assert len(greetings(user)) == 1 and user.texts.count(texts.CONSENT) == 1
    restarted.extensions["tsunagu"].engine.dispose()


def test_a_sender_that_died_mid_send_is_taken_over_when_its_lease_lapses(app, user, line, clock):
    line.platform.fail_next(10_000, 500)
    user.follows()
    line.platform.clear_faults()
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as s:  # another process claims the row, then crashes
        [row_id] = outbox_repo.due_ids(s, clock() + timedelta(hours=1))
        assert outbox_repo.claim(s, row_id, clock() + timedelta(hours=1), timedelta(seconds=60))
    clock.advance(hours=1, seconds=30)
    assert svc.outbox.send_due() == 0 and user.received == []  # still leased
    clock.advance(seconds=60)
    assert svc.outbox.send_due() == 1 and len(greetings(user)) == 1


def test_a_retry_of_a_push_line_already_accepted_counts_as_delivered_not_resent(app, user, line, clock):
    line.platform.fail_next(10_000, 500)
    user.follows()
    line.platform.clear_faults()
    [row] = rows(app)
    # LINE accepted our push but the answer never reached us: the same retry key gets 409.
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, PushMessageRequest, TextMessage

    with ApiClient(Configuration(host=line.url, access_token="test-access-token")) as api:
        MessagingApi(api).push_message(PushMessageRequest(to=user.user_id, messages=[TextMessage(text="x")]),
                                       x_line_retry_key=row.retry_key)
    clock.advance(minutes=5)
    app.extensions["tsunagu"].outbox.send_due()
    [row] = rows(app)
    assert row.status == "sent" and row.last_error == "409: delivered earlier"
    assert len(user.received) == 1  # only the copy LINE accepted the first time


def test_a_fresh_reply_token_is_used_and_a_stale_one_falls_back_to_push(app, user, line, clock):
    user.follows()
    assert rows(app)[0].via == "reply"
    line.platform.fail_next(1, 500)
    user.says("こんばんは")
    clock.advance(minutes=2)  # the reply token has gone stale meanwhile
    app.extensions["tsunagu"].outbox.send_due()
    assert rows(app)[1].via == "push" and user.last_text == texts.CONSENT


def test_a_users_messages_never_overtake_each_other(app, user, line, clock):
    line.platform.fail_next(1, 500)
    user.follows()  # fails once
    user.says("こんばんは")  # must wait behind the greeting
    assert user.received == []
    drain(app, clock)
    assert greetings(user) and user.texts.index(texts.CONSENT) > user.texts.index(greetings(user)[0])


def test_more_than_five_messages_or_5000_characters_are_split_into_valid_requests(app, user, line, clock):
    user.follows()
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as s:
        client = s.scalar(select(Client))
        batch = [{"type": "text", "text": f"{i}"} for i in range(6)] + [{"type": "text", "text": "あ" * 12_000}]
        written = outbox_repo.enqueue(s, client, batch, clock())
    assert [len(r.messages) for r, _ in written] == [5, 4]  # 6 short + 3 pieces of the long one
    svc.outbox.send_due()
    assert len(user.received) == 1 + 9
    assert all(len(m["text"]) <= 5000 for m in user.received)


def test_long_text_is_split_by_lines_utf16_count_so_emoji_heavy_text_is_not_refused():
    text = "🌙" * 3000  # 6,000 UTF-16 units: LINE would refuse it as one message
    parts = outbox_repo.split_text(text)
    assert "".join(parts) == text
    assert all(outbox_repo.line_length(p) <= 5000 for p in parts) and len(parts) == 2


def test_nothing_is_pushed_to_a_user_who_blocked_the_account(app, user, line, clock):
    line.platform.fail_next(10_000, 500)
    user.follows()
    user.blocks()
    line.platform.clear_faults()
    drain(app, clock)
    assert user.received == []
    with app.extensions["tsunagu"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status == "cancelled")) == 1
