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


def two_at_once(line, url, build):
    users = [line.platform.add_user() for _ in range(USERS)]
    bodies = [body for uid in users for body in build(uid)]
    assert at_once(line.platform, url, bodies) == [200] * len(bodies)
    return users


@pytest.mark.parametrize("kind", ["follow and first message", "two first messages"])
def test_two_webhooks_for_one_new_user_at_once_make_one_client_and_one_consultation(settings, clock, line, kind):
    def build(uid):
        first = [line.platform.follow_event(uid)] if kind.startswith("follow") else \
            [line.platform.text_event(uid, "はじめまして")]
        return [first, [line.platform.text_event(uid, "相談したいです")]]

    with served(settings, clock) as (app, url):
        users = two_at_once(line, url, build)
        clients, open_per_client, events, incoming = db_state(app)
        assert clients == USERS
        assert sorted(n for _, n in open_per_client) == [1] * USERS  # one open consultation each
        # Every event handled on its first attempt: nothing failed and waits for the sweep.
        assert events == [("done", 0)] * (2 * USERS)
        assert incoming == (USERS if kind.startswith("follow") else 2 * USERS)
        for uid in users:  # and everyone heard back (the intake's consent question)
            assert wait_until(lambda uid=uid: any("同意" in m.get("text", "") for m in line.platform.inbox(uid)))


def test_concurrent_first_messages_with_a_crisis_text_get_emergency_contacts_at_once(settings, clock, line):
    def build(uid):
        return [[line.platform.text_event(uid, "こんばんは")], [line.platform.text_event(uid, CRISIS)]]

    with served(settings, clock) as (app, url):
        users = two_at_once(line, url, build)
        # No clock moves and no sweep runs: the contacts come from handling the webhook itself.
        for uid in users:
            assert wait_until(lambda uid=uid: any(has_emergency_contacts(m.get("text", ""))
                                                  for m in line.platform.inbox(uid)))
        calls = [c for c in line.platform.api_calls() if c.path.endswith(("/reply", "/push"))]
        assert len([c for c in calls if c.status == 200]) >= USERS
        clients, open_per_client, events, _ = db_state(app)
        assert clients == USERS and sorted(n for _, n in open_per_client) == [1] * USERS
        assert events == [("done", 0)] * (2 * USERS)
        with app.extensions["tsunagu"].sessions() as s:
            states = set(s.scalars(select(Consultation.state)))
        assert states == {"waiting"}  # the crisis put each one in the queue, not back in intake
