"""Two runs of each sweep at the same moment (two processes, or `tsunagu jobs` beside the scheduler)
act on every row once: each run has its own app (engine, connection pool, LINE client)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot import jobs
from bot.app import create_app
from flows import texts
from storage import inbox
from storage.models import Client, Consultation, Message, OutboxMessage


def svc(app):
    return app.extensions["tsunagu"]


def twice_at_once(settings, clock, job):
    """Run `job` in two threads, each with an app of its own, released together; returns both counts."""
    apps = [create_app(settings, clock=clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    counts, errors = [], []

    def run(app):
        try:
            barrier.wait(timeout=30)
            counts.append(job(svc(app)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for a in apps:
        svc(a).sender.stop()
        svc(a).outbox.wait_idle()
        svc(a).gateway.close()
        svc(a).engine.dispose()
    assert not errors, errors
    return counts


def intake_users(make_user, n):
    people = [make_user() for _ in range(n)]
    for p in people:
        p.says("こんばんは")
        p.taps("同意して進む")
    return people


def test_two_expiry_sweeps_at_once_send_each_expiry_message_once(app, settings, make_user, clock):
    people = intake_users(make_user, 12)
    clock.advance(minutes=31)
    counts = twice_at_once(settings, clock, jobs.expire_intakes)
    assert sum(counts) == 12
    svc(app).outbox.send_due()
    assert all(p.texts.count(texts.EXPIRED) == 1 for p in people)
    assert jobs.expire_intakes(svc(app)) == 0  # nothing left for a third run


def test_two_waiting_update_sweeps_at_once_send_each_note_once(app, settings, make_user, clock):
    people = []
    for _ in range(6):
        p = make_user()
        for step in ["こんばんは", "同意して進む", "本人", "20代", "札幌市", "仕事・就労", "話を聞いてほしいです"]:
            p.says(step)
        people.append(p)
    clock.advance(minutes=11)
    counts = twice_at_once(settings, clock, jobs.waiting_updates)
    assert sum(counts) == 6
    svc(app).outbox.send_due()
    assert all(p.texts.count(texts.STILL_WAITING) == 1 for p in people)
    clock.advance(minutes=30)
    assert jobs.waiting_updates(svc(app)) == 0  # once per wait, not once per sweep


def test_two_stale_inbox_sweeps_at_once_process_each_event_once(app, settings, make_user, line, clock):
    people = [make_user() for _ in range(20)]
    for p in people:
        p.follows()  # known users: nothing but the claim keeps a second run from answering again
    with svc(app).sessions.begin() as s:  # stored, then the process died before acting on them
        for p in people:
            event = line.platform.text_event(p.user_id, "こんばんは")
            inbox.store_once(s, event["webhookEventId"], event, clock())
    clock.advance(seconds=90)
    twice_at_once(settings, clock, jobs.reprocess_stale_inbox)
    svc(app).outbox.send_due()
    for p in people:
        assert len(p.received) == 2  # the greeting, then one answer to the one message
    with svc(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 20


def test_two_purges_at_once_purge_each_text_once(app, settings, make_user, clock):
    people = [make_user() for _ in range(5)]
    for p in people:
        p.says("昔のメッセージ")
    with svc(app).sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Message).where(Message.text.is_not(None)))
        # every other copy the purge erases: sent outbox rows, the users' LINE IDs, LINE's read tokens
        stored += s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent"))
        stored += s.scalar(select(func.count()).select_from(Client).where(Client.line_user_id.is_not(None)))
        stored += s.scalar(select(func.count()).select_from(Consultation).where(Consultation.read_token.is_not(None)))
    clock.advance(days=366)
    counts = twice_at_once(settings, clock, jobs.purge_old_text)
    assert sum(counts) == stored  # each row purged by exactly one of the runs
    with svc(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.text.is_not(None))) == 0


def test_two_outbox_jobs_at_once_send_each_row_once(app, settings, make_user, line, clock):
    people = [make_user() for _ in range(10)]
    line.platform.fail_next(10_000, 500)
    for p in people:
        p.follows()
    line.platform.clear_faults()
    clock.advance(minutes=1)
    counts = twice_at_once(settings, clock, jobs.send_outbox)
    assert sum(counts) == 10
    assert all(len(p.received) == 1 for p in people)
    assert all(c.status == 200 for c in line.platform.api_calls() if c.path.endswith("/push"))
