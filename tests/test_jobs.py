"""Scheduled jobs are single sweeps over deadlines in the database: tests move the clock and call them."""

from sqlalchemy import select

from bot import jobs
from bot.scheduler import build_scheduler
from storage import inbox
from storage.models import InboxEvent, Message


def svc(app):
    return app.extensions["tsunagu"]


def test_an_event_stored_but_never_processed_is_picked_up_by_the_sweep(app, user, line, clock):
    # The process died right after storing the event, before acting on it.
    event = line.platform.text_event(user.user_id, "こんばんは")
    with svc(app).sessions.begin() as s:
        inbox.store_once(s, event["webhookEventId"], event, clock())
    assert user.received == []
    clock.advance(seconds=jobs.STALE_AFTER_SECONDS - 5)
    assert jobs.reprocess_stale_inbox(svc(app)) == 0  # too fresh: the webhook may still be on it
    clock.advance(seconds=10)
    assert jobs.reprocess_stale_inbox(svc(app)) == 1
    svc(app).outbox.send_due()
    assert "同意" in user.last_text
    assert jobs.reprocess_stale_inbox(svc(app)) == 0  # done once, never again
    user.post([event])  # LINE redelivers it: acknowledged, not acted on a second time
    assert user.texts.count(user.last_text) == 1


def test_processed_events_keep_no_payload(app, user):
    user.says("こんばんは")
    with svc(app).sessions() as s:
        assert [e.payload for e in s.scalars(select(InboxEvent))] == [None]


def test_old_message_text_is_purged_on_the_retention_schedule_and_rows_stay(app, user, clock):
    user.says("昔のメッセージ")
    clock.advance(days=366)
    user.says("新しいメッセージ")
    assert jobs.purge_old_text(svc(app)) >= 2  # the old message and the bot's answer to it
    with svc(app).sessions() as s:
        kept = [m.text for m in s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))]
    assert kept == [None, "新しいメッセージ"]


def test_every_job_runs_once_without_error_and_returns_counts(app, user, clock):
    user.says("こんばんは")
    clock.advance(minutes=45)
    results = jobs.run_all(svc(app))
    assert set(results) == set(jobs.JOBS) and results["expire_intakes"] == 1


def test_the_scheduler_schedules_every_job_once(app):
    scheduler = build_scheduler(svc(app))
    assert sorted(j.id for j in scheduler.get_jobs()) == sorted(jobs.JOBS)
    intervals = {j.id: j.trigger.interval.total_seconds() for j in scheduler.get_jobs()}
    assert intervals == {name: seconds for name, (_, seconds) in jobs.JOBS.items()}


def test_a_failing_event_is_retried_then_given_up_without_blocking_others(app, user, line, clock, monkeypatch):
    from flows import consultation

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(consultation, "on_text", broken)
    assert user.says("こんばんは").status_code == 200  # LINE must not keep redelivering
    for _ in range(6):
        clock.advance(minutes=2)
        jobs.reprocess_stale_inbox(svc(app))
    with svc(app).sessions() as s:
        row = s.scalar(select(InboxEvent))
    assert row.status == "failed" and row.attempts == 5 and row.error == "RuntimeError"


def test_a_waiting_user_gets_one_still_waiting_note_after_ten_minutes(app, user, clock):
    from flows import texts

    for step in ["こんばんは", "同意して進む", "本人", "20代", "札幌市", "仕事・就労", "話を聞いてほしいです"]:
        user.says(step)
    clock.advance(minutes=9)
    assert jobs.waiting_updates(svc(app)) == 0
    clock.advance(minutes=2)
    assert jobs.waiting_updates(svc(app)) == 1
    assert user.last_text == texts.STILL_WAITING
    clock.advance(minutes=30)
    assert jobs.waiting_updates(svc(app)) == 0  # once, not every sweep
