"""The outgoing spine under contention: several senders, crashes mid-send, rate limits, the 23-hour
give-up. Everything goes over real HTTP to the LINE emulator, whose recorded calls and retry keys show
what reached LINE (a row pushed twice shows up as a 409 on its retry key, or as a second delivery)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import sender as sender_mod
from bot.app import create_app
from bot.line_client import LineGateway, retry_after
from bot.sender import GIVE_UP_AFTER, OWN_SPENT_TOKEN, UNKNOWN_NOT_PUSHED, OutboxSender
from storage import outbox as outbox_repo
from storage.db import make_engine, make_session_factory
from storage.models import Client, OutboxMessage

ROOT = Path(__file__).resolve().parents[1]


def rows(app):
    with app.extensions["tsunagu"].sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def unsent(app):
    return [r for r in rows(app) if r.status not in ("sent", "cancelled")]


def push_calls(line):
    return [c for c in line.platform.api_calls() if c.path == "/v2/bot/message/push"]


def greetings(user):
    return [t for t in user.texts if t.startswith("友だち追加ありがとうございます")]


def backlog(app, make_user, clock, users: int, per_user: int):
    """`users` people, each with `per_user` numbered pushes waiting (no reply token)."""
    people = [make_user() for _ in range(users)]
    svc = app.extensions["tsunagu"]
    line = people[0].platform
    line.fail_next(10_000, 500)
    for p in people:
        p.follows()
    line.clear_faults()
    with svc.sessions.begin() as s:
        # The greetings that failed are set aside: only the numbered backlog is left to send.
        s.query(OutboxMessage).update({"status": "cancelled"})
        for client in s.scalars(select(Client).order_by(Client.id)):
            for i in range(per_user):
                outbox_repo.enqueue(s, client, [{"type": "text", "text": f"#{i}"}], clock())
    return people


def own_sender(database_url, line_url, clock, **kw):
    """A sender as another process would have it: its own engine, connection pool and LINE client."""
    engine = make_engine(database_url)
    gateway = LineGateway(line_url, "test-access-token", timeout=(3.0, 10.0))
    return OutboxSender(make_session_factory(engine), gateway, clock, **kw), engine, gateway


def run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


# --- contended claims ------------------------------------------------------------------------------


def test_two_senders_claiming_at_the_same_moment_never_claim_one_row_twice(app, make_user, line, clock,
                                                                           database_url):
    backlog(app, make_user, clock, users=30, per_user=1)
    a, ea, ga = own_sender(database_url, line.url, clock)
    b, eb, gb = own_sender(database_url, line.url, clock)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def claimer(name, sender):
        def run():
            for _ in range(6):  # six contended rounds of five rows each
                barrier.wait(timeout=30)
                claimed[name].extend(j.row.id for j in sender.claim(5))
        return run

    try:
        run_threads([claimer("a", a), claimer("b", b)])
    finally:
        for e, g in ((ea, ga), (eb, gb)):
            g.close()
            e.dispose()
    both = claimed["a"] + claimed["b"]
    assert len(both) == 30 and len(set(both)) == 30  # every row claimed, none by both


def test_a_claim_that_meets_another_senders_open_claim_never_takes_its_rows(app, make_user, line, clock,
                                                                          database_url):
    """Sender A has claimed rows and not committed yet; sender B claims meanwhile. B must neither take
    A's rows (after A commits) nor, on PostgreSQL, wait for A: it skips them and takes the others."""
    backlog(app, make_user, clock, users=10, per_user=1)
    engine = make_engine(database_url)
    other, eb, gb = own_sender(database_url, line.url, clock)
    got_b: list[int] = []
    b_done = threading.Event()

    def claim_b():
        got_b.extend(j.row.id for j in other.claim(10))
        b_done.set()

    try:
        with make_session_factory(engine).begin() as session:  # A's transaction stays open
            got_a = [r.id for r in outbox_repo.claim_due(session, clock(), timedelta(seconds=60), limit=5,
                                                         give_up_after=GIVE_UP_AFTER)]
            thread = threading.Thread(target=claim_b)
            thread.start()
            b_done.wait(2.0)  # bounded: SKIP LOCKED answers at once; a blocking claim would still be waiting
            finished_before_a_committed = b_done.is_set()
        thread.join(timeout=30)
    finally:
        gb.close()
        eb.dispose()
        engine.dispose()
    assert len(got_a) == 5 and not set(got_a) & set(got_b)
    if engine.dialect.name == "postgresql":
        assert finished_before_a_committed and len(got_b) == 5  # skipped A's locked rows, took the rest


def test_a_sender_whose_lease_was_taken_over_cannot_overwrite_the_row(app, make_user, line, clock):
    [p] = backlog(app, make_user, clock, users=1, per_user=1)
    svc = app.extensions["tsunagu"]
    slow = OutboxSender(svc.sessions, svc.gateway, clock)
    [job] = slow.claim(1)  # then it hangs longer than its lease
    clock.advance(seconds=61)
    assert svc.outbox.send_due() == 1 and p.texts == ["#0"]
    from bot.line_client import SendResult

    slow.settle([sender_mod.Outcome(job, SendResult("retry", 500, "HTTP 500"), "push")])
    [row] = unsent(app) or [r for r in rows(app) if r.id == job.row.id]
    assert row.status == "sent" and row.attempts == 1  # the late settle changed nothing


def test_two_senders_with_their_own_engines_send_every_row_once_and_in_order(app, make_user, line, clock,
                                                                          database_url):
    people = backlog(app, make_user, clock, users=12, per_user=4)
    a, ea, ga = own_sender(database_url, line.url, clock, batch=7)
    b, eb, gb = own_sender(database_url, line.url, clock, batch=5)
    barrier = threading.Barrier(2)

    def drain(sender):
        def run():
            barrier.wait(timeout=30)
            for _ in range(200):
                sender.send_due(limit=10)
                if not unsent(app):
                    return
        return run

    try:
        run_threads([drain(a), drain(b)])
    finally:
        for s, e, g in ((a, ea, ga), (b, eb, gb)):
            s.close()
            g.close()
            e.dispose()
    assert unsent(app) == []
    calls = push_calls(line)
    assert [c.status for c in calls] == [200] * 48  # no 409: no retry key was ever used twice
    keys = Counter(d["retry_key"] for d in line.platform.deliveries())
    assert len(keys) == 48 and set(keys.values()) == {1}
    for p in people:
        assert p.texts == ["#0", "#1", "#2", "#3"]  # each user's order kept across both senders


SENDER_PROCESS = r"""
import sys
import time
from datetime import datetime
from storage.outbox import pending_count
from bot.line_client import LineGateway
from bot.sender import OutboxSender
from storage.db import make_engine, make_session_factory
url, line_url, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
sender = OutboxSender(make_session_factory(make_engine(url)), LineGateway(line_url, "test-access-token"),
                      lambda: now, batch=4)
sent = 0
for _ in range(2000):
    n = sender.send_due(limit=8)
    sent += n
    if n == 0:
        with sender.sessions() as s:
            if pending_count(s) == 0:
                break
        time.sleep(0.01)  # the other process holds this user's row: its turn comes after the settle
print(sent)
"""


def test_two_sender_processes_send_every_row_once(app, make_user, line, clock, database_url):
    people = backlog(app, make_user, clock, users=10, per_user=3)
    procs = [subprocess.Popen([sys.executable, "-c", SENDER_PROCESS, database_url, line.url, clock().isoformat()],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    sent = [int(o.strip().splitlines()[-1]) for o, _ in outs]
    assert sum(sent) == 30
    assert [c.status for c in push_calls(line)] == [200] * 30
    assert all(p.texts == ["#0", "#1", "#2"] for p in people)


def test_the_background_sender_keeps_going_through_a_backlog_without_idle_sleeps(app, make_user, line, clock):
    people = backlog(app, make_user, clock, users=20, per_user=3)
    outbox = app.extensions["tsunagu"].outbox
    background = sender_mod.BackgroundSender(outbox, interval=30.0)  # a sleep between rounds would hang here
    background.start()
    try:
        done = threading.Event()
        for _ in range(200):
            if not unsent(app):
                done.set()
                break
            done.wait(0.05)
        assert done.is_set(), [r.status for r in unsent(app)]
    finally:
        background.stop()
    assert all(p.texts == ["#0", "#1", "#2"] for p in people)
    assert [c.status for c in push_calls(line)] == [200] * 60


def test_crisis_rows_go_first(app, make_user, line, clock):
    people = backlog(app, make_user, clock, users=3, per_user=1)
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as s:
        client = s.scalar(select(Client).order_by(Client.id.desc()))
        s.query(OutboxMessage).filter(OutboxMessage.client_id == client.id).update({"priority": 10})
    sender = OutboxSender(svc.sessions, svc.gateway, clock, batch=1)
    sender.send_due(limit=1)
    assert people[-1].texts == ["#0"] and people[0].texts == []


def test_send_ids_sends_the_given_rows_now_and_keeps_a_users_order(app, make_user, line, clock):
    [p] = backlog(app, make_user, clock, users=1, per_user=3)
    ids = [r.id for r in unsent(app)]
    outbox = app.extensions["tsunagu"].outbox
    assert outbox.send_ids(ids[1:]) == 0  # held back by the user's earlier unsent row
    assert p.texts == []
    assert outbox.send_ids(ids) == 3 and p.texts == ["#0", "#1", "#2"]


# --- replies: crash after LINE accepted, before the settle ------------------------------------------


def crashed_reply(app, user, line, clock):
    """The follow's reply failed once (500), so the row waits with a fresh token; then a sender claims
    it, LINE accepts the reply, and the sender dies before settling."""
    line.platform.fail_next(1, 500)
    user.follows()
    [row] = rows(app)
    assert row.status == "pending" and row.reply_token is not None
    clock.advance(seconds=2)
    svc = app.extensions["tsunagu"]
    doomed = OutboxSender(svc.sessions, svc.gateway, clock)
    [job] = doomed.claim(10)
    assert job.action == "reply"
    outcome = doomed.deliver(job)
    assert outcome.result.outcome == "accepted" and len(greetings(user)) == 1
    return job, row


def test_a_crash_between_an_accepted_reply_and_its_settle_is_taken_over_in_time_and_not_pushed(app, user, line,
                                                                                                 clock):
    job, row = crashed_reply(app, user, line, clock)
    deadline = row.reply_token_expires_at
    assert clock() + job.lease < deadline  # the reply's lease ends while the token is still fresh
    clock.set(clock() + job.lease + timedelta(seconds=1))
    assert clock() < deadline
    assert app.extensions["tsunagu"].outbox.send_due() == 1
    [row] = rows(app)
    assert row.status == "sent" and row.via == "reply" and row.last_error == OWN_SPENT_TOKEN
    assert push_calls(line) == [] and len(greetings(user)) == 1


def test_an_unknown_reply_found_after_the_token_deadline_is_not_pushed(app, user, line, clock):
    _, row = crashed_reply(app, user, line, clock)
    clock.set(row.reply_token_expires_at + timedelta(seconds=1))  # every sender was down past the token
    app.extensions["tsunagu"].outbox.send_due()
    [row] = rows(app)
    assert row.status == "sent" and row.last_error == UNKNOWN_NOT_PUSHED
    assert push_calls(line) == [] and len(greetings(user)) == 1


def test_an_unknown_crisis_reply_after_the_deadline_is_pushed_because_safety_comes_first(app, user, line, clock):
    line.platform.fail_next(1, 500)
    user.follows()
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as s:
        s.query(OutboxMessage).update({"priority": 10})
    clock.advance(seconds=2)
    doomed = OutboxSender(svc.sessions, svc.gateway, clock)
    [job] = doomed.claim(10)
    doomed.deliver(job)  # accepted, then the process dies
    clock.set(job.row.reply_token_expires_at + timedelta(seconds=1))
    svc.outbox.send_due()
    assert len(push_calls(line)) == 1 and len(greetings(user)) == 2  # twice rather than never


def test_a_reply_that_line_refused_with_500_is_pushed_once_the_token_is_stale(app, user, line, clock):
    line.platform.fail_next(1, 500)
    user.follows()
    clock.advance(minutes=2)
    app.extensions["tsunagu"].outbox.send_due()
    [row] = rows(app)
    assert row.status == "sent" and row.via == "push" and len(greetings(user)) == 1


# --- 429 and the give-up ------------------------------------------------------------------------------


def test_a_429_with_retry_after_holds_the_next_attempt_back_that_long(app, user, line, clock):
    line.platform.fail_next(1, 429, retry_after=120)
    user.follows()
    [row] = rows(app)
    assert row.status == "pending" and row.last_error == "HTTP 429"
    calls = len(line.platform.api_calls())
    outbox = app.extensions["tsunagu"].outbox
    clock.advance(seconds=100)
    assert outbox.send_due() == 0 and len(line.platform.api_calls()) == calls  # LINE asked for 120 s
    clock.advance(seconds=21)
    assert outbox.send_due() == 1 and len(greetings(user)) == 1


def test_a_429_pauses_this_processs_other_sends_too(app, make_user, line, clock):
    a, b = make_user(), make_user()
    line.platform.fail_next(1, 429, retry_after=60)
    a.follows()
    calls = len(line.platform.api_calls())
    b.follows()  # the channel is rate limited: b's reply waits as well
    assert len(line.platform.api_calls()) == calls and b.received == []
    clock.advance(seconds=61)
    app.extensions["tsunagu"].outbox.send_due()
    assert len(greetings(a)) == 1 and len(greetings(b)) == 1


def test_retry_after_is_read_as_seconds_or_an_http_date():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": "30"}) == 30
    assert retry_after({"retry-after": "Mon, 23 Nov 2026 08:01:00 GMT"}, now) == 60
    assert retry_after({"Retry-After": "soon"}) is None and retry_after({}) is None


def test_a_row_that_cannot_be_sent_for_23_hours_is_given_up_and_never_sent_after(app, user, line, clock):
    line.platform.fail_next(100_000, 500)
    user.follows()
    outbox = app.extensions["tsunagu"].outbox
    for _ in range(22):
        clock.advance(hours=1)
        outbox.send_due()
    [row] = rows(app)
    assert row.status == "pending"
    clock.advance(hours=1, seconds=1)
    outbox.send_due()
    [row] = rows(app)
    assert row.status == "failed" and row.last_error == "gave up after 23 h"
    line.platform.clear_faults()
    calls = len(line.platform.api_calls())
    clock.advance(minutes=30)  # LINE is back, still within 24 h of the first push's retry key
    outbox.send_due()
    assert len(line.platform.api_calls()) == calls and user.received == []


def test_a_row_first_seen_after_23_hours_is_not_sent_by_send_ids_either(app, user, line, clock):
    line.platform.fail_next(1, 500)
    user.follows()
    line.platform.clear_faults()
    [row] = rows(app)
    clock.set(row.created_at + GIVE_UP_AFTER + timedelta(seconds=1))
    assert app.extensions["tsunagu"].outbox.send_ids([row.id]) == 0
    assert user.received == []


@pytest.mark.parametrize("stall", [3])
def test_a_reply_that_timed_out_is_retried_as_a_reply_and_arrives_once(settings, user, line, clock, stall):
    from dataclasses import replace

    app = create_app(replace(settings, line_api_timeout=1), clock=clock)
    user.http = app.test_client()
    line.platform.stall_next(1, stall)  # LINE carries the reply out after we stopped waiting
    user.follows()
    [row] = rows(app)
    assert row.status == "pending" and row.reply_attempted
    done = threading.Event()
    for _ in range(100):  # wait (bounded) for the emulator to finish the stalled call
        if greetings(user):
            break
        done.wait(0.05)
    clock.advance(seconds=3)
    app.extensions["tsunagu"].outbox.send_due()
    [row] = rows(app)
    assert row.status == "sent" and row.via == "reply" and len(greetings(user)) == 1
    assert push_calls(line) == []
    app.extensions["tsunagu"].sender.stop()
    app.extensions["tsunagu"].gateway.close()
    app.extensions["tsunagu"].engine.dispose()


def test_a_batch_is_sent_a_few_calls_at_a_time_each_outcome_in_its_jobs_place(app, make_user, line, clock):
    """Every thread more is one more contender for the GIL (bot/workers.py): a batch goes out at most
    BATCH_SENDS calls at once, however many threads the pool has for calls that stall."""
    backlog(app, make_user, clock, users=8, per_user=1)
    svc = app.extensions["tsunagu"]
    sender = OutboxSender(svc.sessions, svc.gateway, clock, workers=8)
    jobs = sender.claim(8)
    at_once = peak = 0
    lock = threading.Lock()
    real = sender.deliver

    def deliver(job):  # noqa: ANN001, ANN202 - the real call, counted and held a moment so calls overlap
        nonlocal at_once, peak
        with lock:
            at_once += 1
            peak = max(peak, at_once)
        try:
            threading.Event().wait(0.05)
            return real(job)
        finally:
            with lock:
                at_once -= 1

    sender.deliver = deliver
    try:
        outcomes = sender.deliver_all(jobs)
    finally:
        sender.close()
    assert len(jobs) == 8 and [o.job for o in outcomes] == jobs
    assert 2 <= peak <= sender_mod.BATCH_SENDS
    assert sender.settle(outcomes) == 8 and not unsent(app)


def test_a_call_that_hangs_holds_up_only_itself_not_the_rest_of_its_batch(app, make_user, line, clock):
    """Lanes take the next job as they get free: with one call of a batch hanging, the batch's other
    calls all go through meanwhile (with fixed shares, the jobs behind it in its share waited)."""
    backlog(app, make_user, clock, users=8, per_user=1)
    svc = app.extensions["tsunagu"]
    sender = OutboxSender(svc.sessions, svc.gateway, clock, workers=8)
    jobs = sender.claim(8)
    finished = []
    real = sender.deliver

    def deliver(job):  # noqa: ANN001, ANN202 - the first job's call hangs a second, as a stalled LINE call
        if job is jobs[0]:
            threading.Event().wait(1.0)
        outcome = real(job)
        finished.append(job)
        return outcome

    sender.deliver = deliver
    try:
        outcomes = sender.deliver_all(jobs)
    finally:
        sender.close()
    assert [o.job for o in outcomes] == jobs
    assert finished[-1] is jobs[0]  # every other job was done before the hung one
    assert sender.settle(outcomes) == 8 and not unsent(app)
