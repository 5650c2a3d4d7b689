"""Logs never carry personal data, on the error paths too: each path below is driven through the
real webhook with every logger at DEBUG (SQLAlchemy's statement log included), and the captured log
text must hold neither the LINE user ID nor the user's words."""

from __future__ import annotations

import logging

import pytest
from linebot.v3.webhooks import MessageEvent
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from storage.clients import new_pseudonym, user_hash
from storage.models import Client, InboxEvent

SECRET = "夜になると母のことを考えてしまう"  # what the user wrote: must never reach a log


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy at INFO logs each statement with its bound parameters (hidden by hide_parameters);
    # its DEBUG adds result rows, which no setting hides: that level stays off in production too.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    return caplog


def assert_clean(caplog, user):
    captured = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert captured, "the error path was logged"
    assert user.user_id not in captured
    assert SECRET not in captured


def failed_attempts(app):
    with app.extensions["tsunagu"].sessions() as s:
        return s.scalar(select(func.sum(InboxEvent.attempts))) or 0


def test_an_integrity_error_from_two_first_messages_racing(app, user, all_logs, monkeypatch):
    """The milestone-1 race: a check-then-insert that loses to a concurrent insert of the same user."""
    user.says("こんにちは")
    from flows import consultation

    def lost_the_race(session, key, line_user_id, now):  # noqa: ANN001
        session.add(Client(user_hash=user_hash(key, line_user_id), line_user_id=line_user_id,
                           pseudonym=new_pseudonym(), first_seen_at=now, last_seen_at=now))
        session.flush()  # IntegrityError: the other request inserted this user a moment ago

    monkeypatch.setattr(consultation.client_repo, "get_or_create", lost_the_race)
    all_logs.clear()
    assert user.says(SECRET).status_code == 200
    assert failed_attempts(app) == 1 and "IntegrityError" in all_logs.text
    assert_clean(all_logs, user)


def test_a_failing_handler(app, user, all_logs, monkeypatch):
    from handlers import events

    def broken(ctx, event):  # noqa: ANN001
        raise KeyError(event.message.text + " / " + event.source.user_id)

    monkeypatch.setitem(events.HANDLERS, MessageEvent, broken)
    assert user.says(SECRET).status_code == 200
    assert failed_attempts(app) == 1 and "KeyError" in all_logs.text
    assert_clean(all_logs, user)


def test_a_bad_event(app, user, all_logs):
    # A text message without its id: the SDK's validation error quotes the input, text and ID included.
    bad = {"type": "message", "mode": "active", "timestamp": 1, "webhookEventId": "01BADEVENT",
           "replyToken": "r" * 32, "source": {"type": "user", "userId": user.user_id},
           "message": {"type": "text", "text": SECRET, "quoteToken": 7}}
    assert user.post([bad]).status_code == 200
    assert "not understood" in all_logs.text
    assert_clean(all_logs, user)


def test_a_database_error_while_handling(app, user, all_logs, monkeypatch):
    from storage import messages

    def failing_add(session, **row):  # noqa: ANN003
        session.execute(text("INSERT INTO no_such_table (a, b) VALUES (:a, :b)"),
                        {"a": row.get("text"), "b": user.user_id})

    monkeypatch.setattr(messages, "add", failing_add)
    assert user.says(SECRET).status_code == 200
    assert failed_attempts(app) == 1
    assert_clean(all_logs, user)


def test_a_database_error_while_storing_the_webhook(app, user, all_logs, monkeypatch):
    from storage import inbox

    def failing_store(session, events, now):  # noqa: ANN001
        session.execute(text("INSERT INTO no_such_table (a) VALUES (:a)"), {"a": str(events)})

    monkeypatch.setattr(inbox, "store_batch", failing_store)
    assert user.says(SECRET).status_code == 503  # not stored: LINE delivers it again
    assert "not stored" in all_logs.text
    assert_clean(all_logs, user)


def test_the_engine_hides_bound_parameters_in_errors(app, user):
    """Whoever logs a database error, its text carries no values."""
    svc = app.extensions["tsunagu"]
    with pytest.raises(IntegrityError) as caught:
        with svc.sessions.begin() as s:
            for _ in range(2):
                s.execute(text("INSERT INTO inbox_events (webhook_event_id, event_type, is_redelivery, payload,"
                               " status, attempts, received_at) VALUES ('01DUP', :t, false, NULL, 'received', 0,"
                               " CURRENT_TIMESTAMP)"), {"t": user.user_id[:32]})
    assert user.user_id[:32] not in str(caught.value)


def test_a_send_that_fails_unexpectedly(app, user, all_logs, monkeypatch):
    # An error inside the LINE call whose message quotes what was being sent and to whom (the SDK's
    # ValueError for a message type it does not know quotes the message's JSON).
    gateway = app.extensions["tsunagu"].gateway

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ValueError(f"could not send {SECRET!r} to {user.user_id}")

    monkeypatch.setattr(gateway, "reply", broken)
    monkeypatch.setattr(gateway, "push", broken)
    assert user.says(SECRET).status_code == 200
    assert "send failed unexpectedly" in all_logs.text and "ValueError" in all_logs.text
    assert_clean(all_logs, user)


def test_a_scheduled_job_that_fails(app, user, all_logs):
    from bot.scheduler import _safe

    def sweep(svc):  # noqa: ANN001, ANN202
        raise RuntimeError(f"row of {user.user_id}: {SECRET}")

    _safe("expire_intakes", sweep, app.extensions["tsunagu"])()
    assert "job expire_intakes failed: RuntimeError" in all_logs.text
    assert_clean(all_logs, user)
