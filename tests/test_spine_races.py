"""Two webhooks for the same new user at the same instant, on whichever database the suite runs on
(SQLite and PostgreSQL): one client, one open consultation, every event handled at once (none left
for the stale-inbox sweep), and a crisis text's emergency contacts sent without delay."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import Client, Consultation, InboxEvent, Message
from tests.spine import at_once, served, wait_until
from tests.test_crisis_webhook import CRISIS, has_emergency_contacts

USERS = 6  # new users per trial, each sending two webhooks at the same instant


def db_state(app):
    with app.extensions["tsunagu"].sessions() as s:
        clients = s.scalar(select(func.count()).select_from(Client))
        open_per_client = list(s.execute(
            select(Consultation.client_id, func.count()).where(Consultation.state != "closed")
            .group_by(Consultation.client_id)))
        events = list(s.execute(select(InboxEvent.status, InboxEvent.attempts)))
        incoming = s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
    return clients, open_per_client, events, incoming


def two_at_once(line, url, build, *, followed=False):
    users = [line.platform.add_user() for _ in range(USERS)]
    for uid in users if followed else ():  # known to the service already, no consultation yet
        assert line.platform.deliver([line.platform.follow_event(uid)], url) == 200
    bodies = [body for uid in users for body in build(uid)]
    assert at_once(line.platform, url, bodies) == [200] * len(bodies)
    return users


@pytest.mark.parametrize("kind", ["follow and first message", "two first messages",
                                  "two messages from a user who followed earlier"])
def test_two_webhooks_for_one_user_at_once_make_one_client_and_one_consultation(settings, clock, line, kind):
    def build(uid):
        first = [line.platform.follow_event(uid)] if kind.startswith("follow") else \
            [line.platform.text_event(uid, "はじめまして")]
        return [first, [line.platform.text_event(uid, "相談したいです")]]

    followed = kind.endswith("earlier")
    with served(settings, clock) as (app, url):
        users = two_at_once(line, url, build, followed=followed)
        clients, open_per_client, events, incoming = db_state(app)
        assert clients == USERS
        assert sorted(n for _, n in open_per_client) == [1] * USERS  # one open consultation each
        # Every event handled on its first attempt: nothing failed and waits for the sweep.
        assert events == [("done", 0)] * ((3 if followed else 2) * USERS)
        assert incoming == (USERS if kind.startswith("follow") else 2 * USERS)
        for uid in users:  # and everyone heard back (the intake's consent question)
            assert wait_until(lambda uid=uid: any("同意" in m.get("text", "") for m in line.platform.inbox(uid)))


@pytest.mark.parametrize("followed", [False, True], ids=["new user", "user who followed earlier"])
def test_concurrent_first_messages_with_a_crisis_text_get_emergency_contacts_at_once(settings, clock, line,
                                                                                    followed):
    def build(uid):
        return [[line.platform.text_event(uid, "こんばんは")], [line.platform.text_event(uid, CRISIS)]]

    with served(settings, clock) as (app, url):
        users = two_at_once(line, url, build, followed=followed)
        # No clock moves and no sweep runs: the contacts come from handling the webhook itself.
        for uid in users:
            assert wait_until(lambda uid=uid: any(has_emergency_contacts(m.get("text", ""))
                                                  for m in line.platform.inbox(uid)))
        calls = [c for c in line.platform.api_calls() if c.path.endswith(("/reply", "/push"))]
        assert len([c for c in calls if c.status == 200]) >= USERS
        clients, open_per_client, events, _ = db_state(app)
        assert clients == USERS and sorted(n for _, n in open_per_client) == [1] * USERS
        assert events == [("done", 0)] * ((3 if followed else 2) * USERS)
        with app.extensions["tsunagu"].sessions() as s:
            states = set(s.scalars(select(Consultation.state)))
        assert states == {"waiting"}  # the crisis put each one in the queue, not back in intake


def test_serialize_holds_off_a_second_unit_of_work_on_the_same_user_until_the_first_commits(app):
    """The primitive itself: PostgreSQL's advisory lock per user key; SQLite's writer lock taken by
    BEGIN IMMEDIATE at the start of the transaction (not at its first write)."""
    import threading

    from storage.db import serialize

    sessions = app.extensions["tsunagu"].sessions
    entered = threading.Event()

    def second() -> None:
        with sessions.begin() as s:
            serialize(s, 42)
            entered.set()

    with sessions.begin() as first:
        serialize(first, 42)  # nothing written yet: only the lock is held
        t = threading.Thread(target=second)
        t.start()
        assert not entered.wait(0.5), "a second unit of work on the same key ran while the first was open"
    assert entered.wait(10), "the second one goes on once the first commits"
    t.join(10)


def test_an_events_transaction_starts_with_its_users_lock(app, user, monkeypatch):
    """Order inside the unit of work: the user's lock first, before the event is even claimed."""
    from handlers import process
    from storage import inbox

    calls = []
    real_serialize, real_claim = process.serialize_all, inbox.claim_many
    monkeypatch.setattr(process, "serialize_all",
                        lambda s, keys, **kw: (calls.extend(("lock", k) for k in keys), real_serialize(s, keys, **kw)))
    monkeypatch.setattr(inbox, "claim_many", lambda s, ids, now: (calls.append(("claim", ids)), real_claim(s, ids, now))[1])
    user.says("こんにちは")
    key = process.lock_key(app.extensions["tsunagu"].policy, user.user_id)
    assert [c[0] for c in calls] == ["lock", "claim"] and calls[0][1] == key
