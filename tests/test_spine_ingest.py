"""The ingest side of the spine: a webhook's events stored once in one statement, the database's
own guards (one open consultation per client, one default organization that exists from the
migration), and the event workers that handle events right after the 200 and send their replies."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

from storage import consultations as consultation_repo
from storage import inbox
from storage.clients import get_or_create
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Consultation, InboxEvent, Organization, OutboxMessage
from tests.spine import served, wait_until


def svc(app):
    return app.extensions["tsunagu"]


def count(app, model, *where):
    with svc(app).sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# --- storing a batch -----------------------------------------------------------------------------------


def test_a_batch_of_events_is_stored_in_one_statement(app, line, make_user, db):
    users = [make_user() for _ in range(3)]
    inserts = []

    def note(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("INSERT INTO INBOX_EVENTS"):
            inserts.append(statement)

    event.listen(svc(app).engine, "before_cursor_execute", note)
    try:
        users[0].post([line.platform.text_event(u.user_id, "こんにちは") for u in users])
    finally:
        event.remove(svc(app).engine, "before_cursor_execute", note)
    assert len(inserts) == 1
    assert count(app, InboxEvent) == 3 and all(u.received for u in users)


def test_a_redelivered_webhook_event_id_in_a_batch_is_stored_and_acted_on_once(app, line, user):
    first = line.platform.text_event(user.user_id, "こんにちは")
    second = line.platform.text_event(user.user_id, "同意して進む")
    assert user.post([first]).status_code == 200
    heard = len(user.received)
    # LINE redelivers `first` together with a new event; the same id twice in one body counts once too.
    assert user.post([line.platform.redelivery(first), second, second]).status_code == 200
    assert count(app, InboxEvent) == 2
    assert count(app, InboxEvent, InboxEvent.status == "done") == 2
    assert len(user.received) > heard  # `second` was acted on
    assert user.texts.count(user.texts[0]) == 1  # `first` was not answered twice


def test_store_batch_returns_only_the_events_it_stored(app, clock):
    a, b = ({"type": "follow", "webhookEventId": k} for k in ("01A", "01B"))
    with svc(app).sessions.begin() as s:
        assert set(inbox.store_batch(s, [("01A", a)], clock())) == {"01A"}
    with svc(app).sessions.begin() as s:
        stored = inbox.store_batch(s, [("01A", a), ("01B", b), ("01B", b)], clock())
    assert list(stored) == ["01B"]


# --- the database's own guards -------------------------------------------------------------------------


def test_the_database_refuses_a_second_open_consultation_for_a_client(app, clock):
    now = clock()
    with svc(app).sessions.begin() as s:
        client, _ = get_or_create(s, b"k", "U" + "a" * 32, now)
        org = consultation_repo.ensure_default_organization(s, now)
        first = consultation_repo.create(s, client, org, now)
        first.state = "closed"
        s.flush()
        consultation_repo.create(s, client, org, now)  # a closed one does not count
        client_id, org_id = client.id, org.id
    with pytest.raises(IntegrityError):
        with svc(app).sessions.begin() as s:
            s.add(Consultation(client_id=client_id, organization_id=org_id, state="waiting", created_at=now,
                               flow_data={}, risk_cues=[], risk_topics=[]))
    assert count(app, Consultation, Consultation.state != "closed") == 1


def test_there_is_at_most_one_default_organization_and_ensuring_it_is_idempotent(app, clock):
    with svc(app).sessions.begin() as s:
        ids = {consultation_repo.ensure_default_organization(s, clock()).id for _ in range(3)}
    assert len(ids) == 1
    with pytest.raises(IntegrityError):
        with svc(app).sessions.begin() as s:
            s.add(Organization(slug="second", name="二つ目", kind="npo", is_default=True, created_at=clock()))


def test_a_pseudonym_collision_draws_another_pseudonym(app, clock, monkeypatch):
    from storage import clients

    drawn = iter(["相談者-AAAA", "相談者-AAAA", "相談者-BBBB"])
    monkeypatch.setattr(clients, "new_pseudonym", lambda length=4: next(drawn))
    with svc(app).sessions.begin() as s:
        one, created_one = get_or_create(s, b"k", "U" + "1" * 32, clock())
        two, created_two = get_or_create(s, b"k", "U" + "2" * 32, clock())
        again, created_again = get_or_create(s, b"k", "U" + "2" * 32, clock())
        assert (one.pseudonym, two.pseudonym) == ("相談者-AAAA", "相談者-BBBB")
        assert (created_one, created_two, created_again) == (True, True, False) and again.id == two.id


def test_the_default_organization_exists_right_after_migration(database_url, tmp_path):
    """On a fresh database (a new SQLite file, or a fresh PostgreSQL schema)."""
    if database_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        schema = None
    else:
        schema = "fresh_" + uuid.uuid4().hex[:8]
        admin = make_engine(database_url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        url = make_engine(database_url).url  # postgresql+psycopg://…
        engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, hide_parameters=True)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            rows = list(conn.execute(text("SELECT slug FROM organizations WHERE is_default")))
        assert [r.slug for r in rows] == ["default"]
    finally:
        if schema:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


# --- the event workers ---------------------------------------------------------------------------------


def test_the_workers_handle_events_after_the_200_in_each_users_order_and_send_at_once(settings, clock, line):
    """Real workers (OUTBOX_MODE=thread). The background sender is stopped, so every reply the users
    get was sent by the worker that handled the event, right after its commit."""
    with served(settings, clock, outbox_mode="thread", event_workers=2) as (app, url):
        svc(app).sender.stop()
        users = [line.platform.add_user() for _ in range(3)]
        script = ["こんばんは", "同意して進む", "本人"]  # answered out of order, the intake would differ
        for step in script:
            for uid in users:  # separate webhooks, back to back: the ack does not wait for handling
                assert line.platform.deliver([line.platform.text_event(uid, step)], url) == 200
        assert svc(app).events.wait_idle(timeout=20)
        assert count(app, InboxEvent, InboxEvent.status == "done") == 9
        for uid in users:
            texts = [m.get("text", "") for m in line.platform.inbox(uid)]
            assert "同意" in texts[0] and any("年代" in t for t in texts), texts  # consent, then age band
        assert count(app, OutboxMessage, OutboxMessage.status == "pending") == 0
        assert count(app, OutboxMessage, OutboxMessage.via == "reply") == 9  # each while its token was fresh


def test_one_users_events_always_go_to_the_same_worker(settings, clock, line):
    from bot.workers import EventWorkers

    seen: dict[str, set[str]] = {}
    lock = threading.Lock()

    def work(inbox_id, user_id):  # noqa: ANN001
        with lock:
            seen.setdefault(user_id, set()).add(threading.current_thread().name)

    pool = EventWorkers(work, size=4)
    pool.start()
    try:
        for n in range(200):
            user_id = f"U{n % 10:032d}"
            pool.submit(user_id, n, user_id)
        assert pool.wait_idle(timeout=10)
    finally:
        pool.stop()
    assert len(seen) == 10 and all(len(names) == 1 for names in seen.values())
    assert len(set().union(*seen.values())) > 1  # and the users are spread over the workers


def test_an_event_the_worker_could_not_handle_is_picked_up_by_the_sweep(settings, clock, line, monkeypatch):
    from bot import jobs

    with served(settings, clock, outbox_mode="thread", event_workers=1) as (app, url):
        uid = line.platform.add_user()
        crashed = threading.Event()

        def crash(*args):  # noqa: ANN002
            crashed.set()
            raise RuntimeError("the process dies between storing and handling")

        monkeypatch.setattr(svc(app).events, "work", crash)
        assert line.platform.deliver([line.platform.text_event(uid, "こんばんは")], url) == 200
        assert wait_until(crashed.is_set)
        assert count(app, InboxEvent, InboxEvent.status == "received") == 1
        clock.advance(seconds=90)
        monkeypatch.undo()
        assert jobs.reprocess_stale_inbox(svc(app)) == 1
        svc(app).outbox.send_due()
        assert any("同意" in m.get("text", "") for m in line.platform.inbox(uid))


def test_event_workers_is_a_documented_setting():
    from pathlib import Path

    from bot.config import SettingsError, load_settings

    assert "EVENT_WORKERS=" in (Path(__file__).parents[1] / ".env.example").read_text()
    assert load_settings({"EVENT_WORKERS": "8"}, require_line=False).event_workers == 8
    with pytest.raises(SettingsError):
        load_settings({"EVENT_WORKERS": "1000"}, require_line=False)


def test_event_workers_left_at_0_are_chosen_by_the_database():
    from bot.config import load_settings
    from bot.workers import worker_count

    def count(env):
        return worker_count(load_settings(env, require_line=False))

    assert count({"DATABASE_URL": "sqlite:///x.db"}) == 1  # fewer threads contending for the GIL
    assert count({"DATABASE_URL": "postgresql://u@127.0.0.1/x", "EVENT_WORKERS": "0"}) == 1
    assert count({"DATABASE_URL": "postgresql://u@127.0.0.1/x", "EVENT_WORKERS": "3"}) == 3


def test_a_reply_deadline_counts_from_the_events_timestamp(app, line, user, clock):
    event_ = line.platform.text_event(user.user_id, "こんにちは")
    clock.advance(seconds=30)  # handled 30 s after LINE sent it
    user.post([event_])
    with svc(app).sessions() as s:
        expires = s.scalar(select(OutboxMessage.reply_token_expires_at))
    assert expires - clock() <= timedelta(seconds=21)


def test_an_event_handed_to_two_workers_is_handled_once(app, line, user, clock):
    """The worker and the stale sweep (or two processes) may both get one event: the conditional
    claim lets exactly one act on it, even though each already holds the payload."""
    from handlers.process import process_event

    event_ = line.platform.text_event(user.user_id, "こんにちは")
    with svc(app).sessions.begin() as s:
        inbox_id = inbox.store_once(s, event_["webhookEventId"], event_, clock())
    s_ = svc(app)
    results = [process_event(s_.sessions, s_.policy, s_.clock, inbox_id, event_) for _ in range(2)]
    assert [len(r.outbox_ids) for r in results] == [1, 0]
    assert count(app, OutboxMessage) == 1
