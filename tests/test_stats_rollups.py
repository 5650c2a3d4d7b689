"""The statistics rollups (storage/rollups.py) stay right whatever order events arrive in: consultations
stored or queued late and out of order, moved or deleted; follows recorded out of order or deleted. Each
figure is checked against a brute-force count over the rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update

from storage import friends as friend_repo
from storage import rollups, stats
from storage.db import make_session_factory
from storage.models import Client, Consultation, FriendEvent, Organization
from tests.stats_data import jst

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
FY = stats.fiscal_year(2025)
ALL = stats.Scope()


@pytest.fixture
def sessions(db):
    return make_session_factory(db)


@pytest.fixture
def orgs(sessions):
    with sessions.begin() as s:
        made = [Organization(slug=f"org-{i}", name=f"団体{i}", kind="npo", created_at=NOW) for i in (1, 2)]
        s.add_all(made)
        s.flush()
        return [o.id for o in made]


def make_clients(sessions, n: int, *, training: bool = False) -> list[int]:
    with sessions.begin() as s:
        first = s.scalar(select(Client.id).order_by(Client.id.desc()).limit(1)) or 0
        made = [Client(user_hash=f"h-{first + i}", pseudonym=f"相談者-{first + i}", first_seen_at=NOW,
                       last_seen_at=NOW, is_training=training) for i in range(1, n + 1)]
        s.add_all(made)
        s.flush()
        return [c.id for c in made]


def consult(s, client_id: int, org_id: int, created: datetime, *, queued: bool = True,
            training: bool = False) -> Consultation:
    c = Consultation(client_id=client_id, organization_id=org_id, state="closed", is_training=training,
                     flow_data={}, risk_cues=[], risk_topics=[], created_at=created,
                     queued_at=created + timedelta(minutes=2) if queued else None, who="self")
    s.add(c)
    s.flush()
    return c


def returning(sessions, scope: stats.Scope = ALL, period: stats.Period = FY) -> tuple[int, int]:
    with sessions() as s:
        c = stats.consultations(s, period, scope)
        return c["clients"], c["returning_clients"]


def brute_returning(sessions, scope: stats.Scope = ALL, period: stats.Period = FY) -> tuple[int, int]:
    """Straight from the definition: clients with a queued consultation in the period (in scope); returning
    if they had a queued one (same training class, any organization) created before it."""
    training = scope.training == "only"
    with sessions() as s:
        rows = s.execute(select(Consultation.client_id, Consultation.organization_id, Consultation.created_at)
                         .where(Consultation.queued_at.is_not(None), Consultation.is_training.is_(training))).all()
    people = {cl for cl, org, at in rows if period.start <= at < period.end
              and (scope.organization_ids is None or org in scope.organization_ids)}
    before = {cl for cl, _, at in rows if at < period.start}
    return len(people), len(people & before)


def stale_rows(sessions) -> int:
    """How many rows the triggers left different from a full recomputation (rolled back: only counted)."""
    with sessions() as s:
        n = rollups.backfill(s.connection())
        s.rollback()
        return n


def test_the_migrations_install_the_rollup_triggers(sessions):
    with sessions() as s:
        if s.get_bind().dialect.name == "postgresql":
            names = set(s.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
                                       "('consultations'::regclass, 'friend_events'::regclass)")))
            assert {name for name, _ in rollups.POSTGRES_TRIGGERS} <= names
        else:
            names = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            assert set(rollups.SQLITE_TRIGGERS) <= names


def test_a_client_is_returning_even_when_the_earlier_consultation_is_stored_after_the_later_one(sessions, orgs):
    a, b = make_clients(sessions, 2)
    with sessions.begin() as s:
        consult(s, a, orgs[0], jst(2025, 6, 1, 18, 0))
        consult(s, b, orgs[0], jst(2025, 6, 2, 18, 0))
    assert returning(sessions) == (2, 0)
    with sessions.begin() as s:  # a late import: a's consultation of FY2024 arrives now
        consult(s, a, orgs[1], jst(2025, 3, 31, 23, 59, 59))
    assert returning(sessions) == (2, 1)
    assert returning(sessions, stats.Scope((orgs[0],))) == (2, 1)  # the earlier one was with another member
    with sessions() as s:  # the export's "returning" column reads the same rollup
        assert sorted(r["returning"] for r in stats.export_consultations(s, FY, ALL, b"k")) == [0, 1]
    assert stale_rows(sessions) == 0


def test_a_consultation_queued_late_moves_the_first_visit_earlier(sessions, orgs):
    (a,) = make_clients(sessions, 1)
    with sessions.begin() as s:
        early = consult(s, a, orgs[0], jst(2025, 2, 1, 18, 0), queued=False)  # an intake, not (yet) queued
        consult(s, a, orgs[0], jst(2025, 7, 1, 18, 0))
        early_id = early.id
    assert returning(sessions) == (1, 0)  # an intake that never reached the queue does not count
    with sessions.begin() as s:
        s.execute(update(Consultation).where(Consultation.id == early_id)
                  .values(queued_at=jst(2025, 2, 1, 18, 5)))  # its queueing is stored late
    assert returning(sessions) == (1, 1)
    with sessions.begin() as s:
        s.execute(update(Consultation).where(Consultation.id == early_id).values(queued_at=None))
    assert returning(sessions) == (1, 0)
    assert stale_rows(sessions) == 0


def test_deleting_or_moving_the_earlier_consultation_makes_the_client_new_again(sessions, orgs):
    a, b = make_clients(sessions, 2)
    with sessions.begin() as s:
        early = consult(s, a, orgs[0], jst(2024, 12, 1, 18, 0))
        consult(s, a, orgs[0], jst(2025, 7, 1, 18, 0))
        consult(s, b, orgs[0], jst(2025, 8, 1, 18, 0))
        early_id = early.id
    assert returning(sessions) == (2, 1)
    with sessions.begin() as s:  # the early one was b's, stored under the wrong client
        s.execute(update(Consultation).where(Consultation.id == early_id).values(client_id=b))
    assert returning(sessions) == (2, 1) == brute_returning(sessions)
    with sessions.begin() as s:
        s.execute(delete(Consultation).where(Consultation.id == early_id))
    assert returning(sessions) == (2, 0)
    assert stale_rows(sessions) == 0


def test_training_consultations_make_nobody_a_returning_client(sessions, orgs):
    (a,) = make_clients(sessions, 1)
    with sessions.begin() as s:
        consult(s, a, orgs[0], jst(2025, 1, 10, 18, 0), training=True)  # practice, before the client was real
        consult(s, a, orgs[0], jst(2025, 7, 1, 18, 0))
        consult(s, a, orgs[0], jst(2025, 7, 2, 18, 0), training=True)
    assert returning(sessions) == (1, 0)
    assert returning(sessions, stats.Scope(training="only")) == (1, 1)
    assert stale_rows(sessions) == 0


def test_returning_clients_match_a_full_count_after_a_random_order_of_writes(sessions, orgs):
    rnd = random.Random(11)
    clients = make_clients(sessions, 8)
    days = [jst(2024, 10, 1, 18, 0) + timedelta(days=rnd.randrange(400), minutes=rnd.randrange(600))
            for _ in range(40)]
    with sessions.begin() as s:
        for when in days:  # stored in no particular order: creation times jump back and forth
            consult(s, rnd.choice(clients), rnd.choice(orgs), when, queued=rnd.random() < 0.7,
                    training=rnd.random() < 0.15)
    for _ in range(30):  # then queued late, unqueued, moved between clients, deleted
        with sessions.begin() as s:
            ids = list(s.scalars(select(Consultation.id)))
            cid, op = rnd.choice(ids), rnd.random()
            c = Consultation.__table__.c
            if op < 0.4:
                s.execute(update(Consultation).where(c.id == cid).values(
                    queued_at=None if rnd.random() < 0.3 else jst(2025, 1, 1, 0, 0)))
            elif op < 0.7:
                s.execute(update(Consultation).where(c.id == cid).values(client_id=rnd.choice(clients)))
            elif op < 0.85:
                s.execute(delete(Consultation).where(c.id == cid))
            else:
                consult(s, rnd.choice(clients), rnd.choice(orgs), rnd.choice(days) - timedelta(days=200))
        for scope in (ALL, stats.Scope((orgs[0],)), stats.Scope(training="only")):
            assert returning(sessions, scope) == brute_returning(sessions, scope)
    assert stale_rows(sessions) == 0


# --- friends: re-follows ----------------------------------------------------------------------------


def friend_figures(sessions, period: stats.Period = FY) -> dict[str, int]:
    with sessions() as s:
        return stats.friends(s, period, ALL)


def brute_friends(sessions, period: stats.Period = FY) -> tuple[int, int]:
    """Follows in the period, and those that came after an earlier follow by the same client."""
    with sessions() as s:
        rows = s.execute(select(FriendEvent.client_id, FriendEvent.occurred_at)
                         .where(FriendEvent.kind == "follow")).all()
    inside = [(cl, at) for cl, at in rows if period.start <= at < period.end]
    return len(inside), sum(1 for cl, at in inside if any(c2 == cl and a2 < at for c2, a2 in rows))


def test_a_refollow_is_counted_even_when_the_first_follow_is_recorded_after_it(sessions):
    (a,) = make_clients(sessions, 1)
    with sessions.begin() as s:
        friend_repo.record(s, a, "follow", jst(2025, 6, 1, 18, 0))
    assert friend_figures(sessions)["refollows"] == 0
    with sessions.begin() as s:  # delivered late: the first follow and the block before the re-follow
        friend_repo.record(s, a, "block", jst(2025, 5, 1, 18, 0))
        friend_repo.record(s, a, "follow", jst(2025, 4, 10, 18, 0))
    f = friend_figures(sessions)
    assert (f["follows"], f["new_follows"], f["refollows"], f["blocks"], f["cumulative"]) == (2, 1, 1, 1, 1)
    with sessions.begin() as s:
        s.execute(delete(FriendEvent).where(FriendEvent.occurred_at == jst(2025, 4, 10, 18, 0)))
    assert friend_figures(sessions)["refollows"] == 0
    assert stale_rows(sessions) == 0


def test_refollows_match_a_full_count_after_a_random_order_of_events(sessions):
    rnd = random.Random(5)
    clients = make_clients(sessions, 6)
    for _ in range(40):
        with sessions.begin() as s:
            ids = list(s.scalars(select(FriendEvent.id)))
            op = rnd.random()
            if op < 0.7 or not ids:
                when = jst(2024, 11, 1, 0, 0) + timedelta(days=rnd.randrange(300), seconds=rnd.randrange(86400))
                friend_repo.record(s, rnd.choice(clients), rnd.choice(("follow", "follow", "block")), when)
            elif op < 0.85:
                s.execute(update(FriendEvent).where(FriendEvent.id == rnd.choice(ids))
                          .values(occurred_at=jst(2025, 1, 1, 0, 0) + timedelta(days=rnd.randrange(200))))
            else:
                s.execute(delete(FriendEvent).where(FriendEvent.id == rnd.choice(ids)))
        f = friend_figures(sessions)
        assert (f["follows"], f["refollows"]) == brute_friends(sessions)
    assert stale_rows(sessions) == 0
