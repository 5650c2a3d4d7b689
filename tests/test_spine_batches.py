"""The event workers' fast path: events that piled up are handled in one transaction, their fresh
replies leased in that same transaction and sent at once, and on SQLite the webhook goes first in the
writers' line. None of it may bend the rules: a failing event does not take its batch down with it, a
user's messages never overtake each other, nothing is sent twice."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from bot.workers import EventWorkers
from flows import consultation as domain
from handlers.process import process_batch
from storage import inbox
from storage.db import WriteTurns
from storage.models import InboxEvent, Message, OutboxMessage


def svc(app):
    return app.extensions["tsunagu"]


def stored(app, clock, events):
    with svc(app).sessions.begin() as s:
        ids = inbox.store_batch(s, [(e["webhookEventId"], e) for e in events], clock())
    return [(ids[e["webhookEventId"]], e) for e in events]


def test_a_batch_of_events_is_handled_in_one_transaction(app, line, clock):
    users = [line.platform.add_user() for _ in range(5)]
    items = stored(app, clock, [line.platform.text_event(u, "こんばんは") for u in users])
    commits = []

    def count(conn):  # noqa: ANN001
        commits.append(1)

    sa_event.listen(svc(app).engine, "commit", count)
    try:
        done = process_batch(svc(app).sessions, svc(app).policy, clock, items)
    finally:
        sa_event.remove(svc(app).engine, "commit", count)
    assert len(commits) == 1
    assert len(done.outbox_ids) == 5  # each user's consent question, written in that one commit
    with svc(app).sessions() as s:
        assert set(s.scalars(select(InboxEvent.status))) == {"done"}


def test_one_failing_event_does_not_take_its_batch_down_and_is_counted_for_the_sweep(app, line, clock, monkeypatch):
    users = [line.platform.add_user() for _ in range(3)]
    items = stored(app, clock, [line.platform.text_event(u, t) for u, t in zip(users, ["あ", "壊れる", "う"],
                                                                                 strict=True)])
    real = domain.on_text

    def on_text(session, policy, user_id, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if text == "壊れる":
            raise RuntimeError("a bug in one handler")
        return real(session, policy, user_id, text, *args, **kwargs)

    monkeypatch.setattr(domain, "on_text", on_text)
    done = process_batch(svc(app).sessions, svc(app).policy, clock, items)
    with svc(app).sessions() as s:
        states = {i: (e.status, e.attempts) for i, e in ((e.id, e) for e in s.scalars(select(InboxEvent)))}
        incoming = s.scalar(select(Message.id).where(Message.direction == "in").limit(1))
    assert states[items[0][0]] == ("done", 0) and states[items[2][0]] == ("done", 0)
    assert states[items[1][0]] == ("received", 1)  # rolled back, counted: the sweep retries it
    assert len(done.outbox_ids) == 2 and incoming is not None


def test_fresh_replies_are_leased_in_the_events_own_transaction_and_sent_once(app, line, clock):
    users = [line.platform.add_user() for _ in range(3)]
    items = stored(app, clock, [line.platform.text_event(u, "こんばんは") for u in users])
    outbox = svc(app).outbox
    done = process_batch(svc(app).sessions, svc(app).policy, clock, items, claim=outbox.claim_within)
    with svc(app).sessions() as s:  # committed with the rows: leased, a reply attempt on record
        leased = list(s.execute(select(OutboxMessage.claim_token, OutboxMessage.reply_attempted)))
    assert len(done.jobs) == 3 and all(token and attempted for token, attempted in leased)
    assert outbox.claim(10) == []  # nobody else may take them meanwhile
    assert outbox.finish(done.jobs, done.outbox_ids) == 3
    for u in users:
        assert len(line.platform.inbox(u)) == 1
    with svc(app).sessions() as s:
        assert set(s.execute(select(OutboxMessage.status, OutboxMessage.via))) == {("sent", "reply")}


def test_a_new_reply_behind_the_users_earlier_unsent_message_waits_its_turn(app, user, line, clock):
    line.platform.fail_next(1, 500)
    user.follows()  # the greeting failed: pending, to retry after a backoff
    items = stored(app, clock, [line.platform.text_event(user.user_id, "こんばんは")])
    done = process_batch(svc(app).sessions, svc(app).policy, clock, items, claim=svc(app).outbox.claim_within)
    assert done.jobs == [] and len(done.outbox_ids) == 1  # not leased: it would overtake the greeting
    clock.advance(seconds=10)
    svc(app).outbox.send_due()
    texts = user.texts
    assert texts[0].startswith("友だち追加ありがとうございます") and len(texts) == 2


def test_workers_take_what_piled_up_as_one_batch_in_order():
    batches: list[list[int]] = []
    gate = threading.Event()

    def work(items):  # noqa: ANN001
        gate.wait(10)
        batches.append([n for (n,) in items])

    pool = EventWorkers(work, size=1, batch=4)
    pool.start()
    try:
        for n in range(9):
            pool.submit("U1", n)
        time.sleep(0.1)  # the worker holds its first batch; the rest pile up behind it
        gate.set()
        assert pool.wait_idle(10)
    finally:
        pool.stop()
    assert [n for b in batches for n in b] == list(range(9))
    assert max(len(b) for b in batches) == 4  # never more than `batch` at once


def test_on_sqlite_the_webhook_goes_before_waiting_workers():
    turns = WriteTurns()
    order: list[str] = []
    assert turns.acquire()

    def writer(name: str, urgent: bool) -> None:
        assert turns.acquire(urgent=urgent, timeout=10)
        order.append(name)
        turns.release()

    worker = threading.Thread(target=writer, args=("worker", False))
    worker.start()
    time.sleep(0.1)
    webhook = threading.Thread(target=writer, args=("webhook", True))
    webhook.start()
    time.sleep(0.1)
    turns.release()
    worker.join(10)
    webhook.join(10)
    assert order == ["webhook", "worker"]


def test_a_crisis_text_is_handled_on_its_own_lane_while_a_burst_fills_the_workers():
    handled: list[str] = []
    gate = threading.Event()

    def work(items):  # noqa: ANN001
        gate.wait(10)  # a long batch of ordinary events
        handled.extend(name for (name,) in items)

    pool = EventWorkers(work, size=1, batch=32, urgent_work=lambda name: handled.append(name))
    pool.start()
    try:
        for n in range(50):
            pool.submit(f"U{n}", f"ordinary-{n}")
        pool.submit("U99", "crisis", urgent=True)
        deadline = time.monotonic() + 5
        while "crisis" not in handled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert handled == ["crisis"]  # while every ordinary event still waits
        gate.set()
        assert pool.wait_idle(10)
    finally:
        pool.stop()
    assert len(handled) == 51


def test_the_webhook_sends_crisis_texts_to_the_crisis_lane(settings, clock, line, monkeypatch):
    from tests.spine import served, wait_until
    from tests.test_crisis_webhook import CRISIS

    with served(settings, clock, outbox_mode="thread") as (app, url):
        lanes: list[bool] = []
        real = svc(app).events.submit
        monkeypatch.setattr(svc(app).events, "submit",
                            lambda user, *args, urgent=False, key=None: (lanes.append(urgent),
                                                                         real(user, *args, urgent=urgent, key=key)))
        uid = line.platform.add_user()
        assert line.platform.deliver([line.platform.text_event(uid, "こんばんは")], url) == 200
        assert line.platform.deliver([line.platform.text_event(uid, CRISIS)], url) == 200
        assert wait_until(lambda: any("119" in m.get("text", "") for m in line.platform.inbox(uid)))
    assert lanes == [False, True]


def test_while_line_asks_to_wait_a_new_reply_is_not_leased_in_its_transaction(app, make_user, line, clock):
    a, b = make_user(), make_user()
    line.platform.fail_next(1, 429, retry_after=20)
    a.follows()  # LINE: too many requests, come back in 20 s (the whole channel)
    calls = len(line.platform.api_calls())
    items = stored(app, clock, [line.platform.text_event(b.user_id, "こんばんは")])
    done = process_batch(svc(app).sessions, svc(app).policy, clock, items, claim=svc(app).outbox.claim_within)
    assert done.jobs == [] and svc(app).outbox.finish(done.jobs, done.outbox_ids) == 0
    assert len(line.platform.api_calls()) == calls  # nothing sent into the rate limit
    clock.advance(seconds=21)
    svc(app).outbox.send_due()
    assert len(b.received) == 1 and len(a.received) == 1


def test_emergency_contacts_refused_again_and_again_are_retried_within_seconds_not_minutes(app, user, line, clock):
    from tests.test_crisis_webhook import CRISIS

    line.platform.fail_next(6, 500)  # LINE down for six attempts in a row
    user.says(CRISIS)
    for _ in range(6):
        clock.advance(seconds=2)  # never the 4, 8, 16, 32, 64 s an ordinary row would wait
        svc(app).outbox.send_due()
    assert any("119" in m.get("text", "") for m in line.platform.inbox(user.user_id))


def test_a_new_users_two_messages_in_one_batch_make_one_client_and_one_intake_in_order(app, line, clock):
    """The batch looks its clients up (or creates them) in one go; the same user's second event in the
    batch is not "new" again: it answers the intake the first one started."""
    from storage.models import Client, Consultation

    user = line.platform.add_user()
    others = [line.platform.add_user() for _ in range(2)]
    items = stored(app, clock, [line.platform.text_event(others[0], "こんばんは"),
                                line.platform.text_event(user, "こんばんは"),
                                line.platform.text_event(others[1], "こんばんは"),
                                line.platform.text_event(user, "はい")])
    commits = []

    def count(conn):  # noqa: ANN001
        commits.append(1)

    sa_event.listen(svc(app).engine, "commit", count)
    try:
        process_batch(svc(app).sessions, svc(app).policy, clock, items)
    finally:
        sa_event.remove(svc(app).engine, "commit", count)
    assert len(commits) == 1  # one transaction: not a failed batch handled again one by one
    with svc(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Client)) == 3
        mine = s.scalars(select(Consultation).join(Client).where(Client.line_user_id == user)).all()
        words = s.scalars(select(Message.text).where(Message.direction == "in", Message.consultation_id == mine[0].id)
                          .order_by(Message.id)).all()
    assert len(mine) == 1 and words == ["こんばんは", "はい"]
    assert mine[0].flow_step != svc(app).policy.intake.entry  # the second message moved the intake on


def test_events_that_never_reach_a_handler_create_no_client_even_beside_ones_that_do(app, line, clock):
    """Only a message, follow or postback from a user in active mode gets a client: an unfollow from
    someone we never knew, a standby event, a chat in a group leave no trace beside a real message."""
    from storage.models import Client

    talker, stranger, standby, grouped = (line.platform.add_user() for _ in range(4))
    quiet = line.platform.text_event(standby, "こんばんは")
    quiet["mode"] = "standby"
    in_group = line.platform.text_event(grouped, "こんばんは")
    in_group["source"] = {"type": "group", "groupId": "C" + "0" * 32, "userId": grouped}
    items = stored(app, clock, [line.platform.unfollow_event(stranger), quiet, in_group,
                                line.platform.text_event(talker, "こんばんは")])
    process_batch(svc(app).sessions, svc(app).policy, clock, items)
    with svc(app).sessions() as s:
        assert s.scalars(select(Client.line_user_id)).all() == [talker]


def test_of_one_users_two_fresh_replies_only_the_first_is_leased_and_both_arrive_in_order(app, line, clock):
    """Replies leased in the events' own transaction keep the claim's rules: the user's second reply
    waits behind the first (and is sent right after it)."""
    user, other = line.platform.add_user(), line.platform.add_user()
    items = stored(app, clock, [line.platform.text_event(user, "こんばんは"),
                                line.platform.text_event(other, "こんばんは"),
                                line.platform.text_event(user, "はい")])
    outbox = svc(app).outbox
    done = process_batch(svc(app).sessions, svc(app).policy, clock, items, claim=outbox.claim_within)
    with svc(app).sessions() as s:
        rows = {r.id: r for r in s.scalars(select(OutboxMessage))}
    leased = {j.row.id for j in done.jobs}
    assert len(rows) == 3 and len(leased) == 2
    assert {rows[i].client_id for i in leased} == {rows[i].client_id for i in rows}  # one per user
    first_of_user = min(i for i in rows if rows[i].client_id == rows[max(rows)].client_id)
    assert first_of_user in leased and max(rows) not in leased  # the user's later row waits
    assert all(rows[i].claim_token and rows[i].reply_attempted for i in leased)
    assert rows[max(rows)].claim_token is None
    assert outbox.finish(done.jobs, done.outbox_ids) == 3
    assert len(line.platform.inbox(user)) == 2 and len(line.platform.inbox(other)) == 1


def test_a_batch_writes_each_tables_new_rows_in_one_insert(app, line, clock):
    """On SQLite the unit of work can batch a table's INSERTs only with a sentinel column to match the
    returned ids to its objects (m2_11); without one it sent one INSERT per row."""
    # the default organization in place first (the migration makes it; a test's cleanup may remove it)
    process_batch(svc(app).sessions, svc(app).policy, clock,
                  stored(app, clock, [line.platform.text_event(line.platform.add_user(), "こんばんは")]))
    users = [line.platform.add_user() for _ in range(5)]
    items = stored(app, clock, [line.platform.text_event(u, "こんばんは") for u in users])
    inserts: list[str] = []

    def note(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement.split("(")[0].split()[-1])

    sa_event.listen(svc(app).engine, "before_cursor_execute", note)
    try:
        process_batch(svc(app).sessions, svc(app).policy, clock, items)
    finally:
        sa_event.remove(svc(app).engine, "before_cursor_execute", note)
    assert sorted(inserts) == ["clients", "consultations", "messages", "outbox"], inserts
    with svc(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 12  # each user's words and the reply
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 6


def test_the_stale_sweep_leaves_events_still_queued_in_this_process_to_their_worker(app, line, clock):
    """Behind a backlog of more than 15 s the sweep used to handle queued events one transaction each,
    beside the worker about to take them in batches; a queued event is the worker's for 2 minutes."""
    from bot.jobs import IN_HAND_SECONDS
    from handlers.process import sweep_stale

    gate = threading.Event()
    pool = EventWorkers(lambda items: gate.wait(10), size=1, batch=8)
    pool.start()
    try:
        items = stored(app, clock, [line.platform.text_event(line.platform.add_user(), "こんばんは")
                                    for _ in range(2)])
        for inbox_id, event in items:
            pool.submit(inbox.user_of(event), inbox_id, event, key=inbox_id)
        time.sleep(0.05)  # the first is being handled, the second waits behind it
        held = pool.in_hand(IN_HAND_SECONDS)
        assert held == {i for i, _ in items}
        assert pool.in_hand(0) == set()  # queued too long ago: the sweep may take them after all
        clock.advance(seconds=20)  # stale by the inbox's clock
        swept = sweep_stale(svc(app).sessions, svc(app).policy, clock, 15, in_hand=lambda: held)
        with svc(app).sessions() as s:
            statuses = set(s.scalars(select(InboxEvent.status).where(InboxEvent.id.in_(held))))
        assert swept == 0 and statuses == {"received"}
        assert sweep_stale(svc(app).sessions, svc(app).policy, clock, 15) == 2  # not in hand: swept
        gate.set()
        assert pool.wait_idle(10)
        assert pool.in_hand(IN_HAND_SECONDS) == set()
    finally:
        gate.set()
        pool.stop()
