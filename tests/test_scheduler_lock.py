"""One scheduler at a time across processes: the second stands by and takes over when the first dies;
`tsunagu jobs` does not run beside a scheduler that holds the lock."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import cli
from bot.app import create_app
from bot.scheduler import AdvisoryLock, LeadingScheduler, LeaseLock, make_lock


def other_process(settings, clock):
    return create_app(settings, clock=clock).extensions["tsunagu"]


def close(svc):
    svc.sender.stop()
    svc.gateway.close()
    svc.engine.dispose()


def die(leader):
    """What the death of a process does to its lock: PostgreSQL closes its session (the advisory lock
    goes with it); a lease row simply stops being renewed."""
    lock = leader.lock
    if isinstance(lock, AdvisoryLock) and lock._conn is not None:
        lock._conn.invalidate()
        lock._conn = None


def probe_jobs(ran):
    def probe(svc):
        ran.append(svc)
        return 0
    return {"probe": (probe, 3600)}


def test_a_second_scheduler_stands_by_and_takes_over_when_the_first_dies(settings, clock):
    first, second = other_process(settings, clock), other_process(settings, clock)
    ran: list = []
    a = LeadingScheduler(first, jobs=probe_jobs(ran))
    b = LeadingScheduler(second, jobs=probe_jobs(ran))
    try:
        assert a.step() is True
        assert b.step() is False and b.step() is False  # stands by while the first lives
        clock.advance(seconds=30)
        assert a.step() is True and b.step() is False  # the first renews; still one leader
        die(a)
        clock.advance(seconds=61)  # a lease lapses; an advisory lock went with the connection already
        assert b.step() is True
        assert a.step() is False  # the first, if it comes back, finds itself standing by
    finally:
        a.stop()
        b.stop()
        close(first)
        close(second)


def test_a_scheduler_that_stops_hands_over_at_once(settings, clock):
    first, second = other_process(settings, clock), other_process(settings, clock)
    a = LeadingScheduler(first, jobs={})
    b = LeadingScheduler(second, jobs={})
    try:
        assert a.step() and not b.step()
        a.stop()  # a clean shutdown releases the lock
        assert b.step()
    finally:
        b.stop()
        close(first)
        close(second)


def test_jobs_do_not_run_while_another_process_leads(settings, clock):
    first, second = other_process(settings, clock), other_process(settings, clock)
    ran: list = []
    a = LeadingScheduler(first, jobs={})
    b = LeadingScheduler(second, jobs=probe_jobs(ran))
    try:
        a.step()
        b.step()
        assert b._aps is None  # the standby never started its job scheduler
    finally:
        a.stop()
        b.stop()
        close(first)
        close(second)


def test_tsunagu_jobs_refuses_while_a_scheduler_holds_the_lock(settings, clock, monkeypatch, capsys):
    clock.set(datetime.now(UTC))  # the command runs on the real clock; the leader's lease must be current
    leader_svc = other_process(settings, clock)
    leader = LeadingScheduler(leader_svc, jobs={})
    for name, value in {"LINE_CHANNEL_SECRET": settings.line_channel_secret,
                        "LINE_CHANNEL_ACCESS_TOKEN": settings.line_channel_access_token,
                        "LINE_API_BASE_URL": settings.line_api_base_url, "SECRET_KEY": settings.secret_key,
                        "DATABASE_URL": settings.database_url}.items():
        monkeypatch.setenv(name, value)
    try:
        assert leader.step()
        assert cli.main(["jobs"]) == 1
        assert "scheduler is running" in capsys.readouterr().err
        assert cli.main(["jobs", "--force"]) == 0  # safe by construction, when an operator insists
        leader.stop()
        assert cli.main(["jobs"]) == 0
        assert "expire_intakes" in capsys.readouterr().out
    finally:
        leader.stop()
        close(leader_svc)


def test_the_lock_kind_follows_the_database(settings, clock):
    svc = other_process(settings, clock)
    try:
        lock = make_lock(svc)
        expected = AdvisoryLock if svc.engine.dialect.name == "postgresql" else LeaseLock
        assert isinstance(lock, expected)
    finally:
        close(svc)


def test_a_lease_is_taken_once_and_renewed_only_by_its_holder(settings, clock):
    svc = other_process(settings, clock)
    try:
        a = LeaseLock(svc.sessions, clock, holder="a")
        b = LeaseLock(svc.sessions, clock, holder="b")
        assert a.try_acquire() and not b.try_acquire()
        clock.advance(seconds=59)
        assert a.still_held() and not b.try_acquire()
        clock.advance(seconds=61)  # a missed its renewals: its lease lapsed
        assert b.try_acquire() and not a.still_held()
    finally:
        close(svc)
