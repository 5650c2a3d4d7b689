"""Issue 10: fair order — risk first, then wait, with ageing: a moderate risk counts as 10 minutes of waiting,
so a low-risk user is never starved behind a stream of moderate ones; high and imminent always first. The
console's queue and the position a user is told are the same order."""

from datetime import timedelta

from storage import consultations as consultation_repo
from storage import fair_order
from storage.models import Client
from tests.consortium import Intake, answer_intake

RANK = {"none": 0, "moderate": 1, "high": 2, "imminent": 3}


def waiting(db, clock, name, risk, joined_after_minutes):
    org = consultation_repo.ensure_default_organization(db, clock())
    client = Client(user_hash=name.ljust(64, "0"), pseudonym=f"相談者-{name}", first_seen_at=clock(),
                    last_seen_at=clock())
    db.add(client)
    db.flush()
    c = consultation_repo.create(db, client, org, clock(), state="waiting")
    c.queued_at = clock() + timedelta(minutes=joined_after_minutes)
    c.risk_rank, c.risk_level = RANK[risk], risk
    fair_order.set_queue_key(c)
    db.flush()
    return c


def names(consultations):
    return [c.client.pseudonym.removeprefix("相談者-") for c in consultations]


def test_a_low_risk_user_waits_behind_at_most_ten_minutes_of_moderate_arrivals(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        low = waiting(db, clock, "low", "none", 0)
        for minute in range(1, 31):  # a moderate one every minute for half an hour
            waiting(db, clock, f"m{minute:02d}", "moderate", minute)
        order = names(consultation_repo.queue(db))
        ahead = order.index("low")
        assert order[:ahead] == [f"m{m:02d}" for m in range(1, 10)]  # those who came within 10 minutes of it
        assert consultation_repo.position(db, low, clock()) == ahead == 9


def test_risk_first_then_wait(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        waiting(db, clock, "calm-early", "none", 0)
        waiting(db, clock, "high-late", "high", 20)
        waiting(db, clock, "moderate", "moderate", 5)
        waiting(db, clock, "imminent-later", "imminent", 25)
        waiting(db, clock, "high-early", "high", 15)
        waiting(db, clock, "calm-late", "none", 12)
        assert names(consultation_repo.queue(db)) == [
            "imminent-later", "high-early", "high-late",  # at risk: always first, imminent before high
            "moderate",  # joined at 5, counts as -5: ahead of the calm one who came at 0
            "calm-early", "calm-late"]


def test_the_console_order_and_every_position_agree(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        for i, (risk, minute) in enumerate([("none", 0), ("moderate", 3), ("none", 4), ("high", 8), ("moderate", 14),
                                            ("none", 6), ("imminent", 30), ("moderate", 16), ("none", 16)]):
            waiting(db, clock, f"c{i}", risk, minute)
        queue = consultation_repo.queue(db)
        assert [consultation_repo.position(db, c, clock()) for c in queue] == list(range(len(queue)))
        assert queue == sorted(queue, key=fair_order.sort_key)


def test_a_moderate_message_while_waiting_moves_the_user_up_at_once(app, make_user, clock):
    shared = Intake("その他", "30代", "その他")
    first, second = make_user(), make_user()
    answer_intake(first, shared)
    clock.advance(minutes=5)
    answer_intake(second, shared)
    with app.extensions["tsunagu"].sessions() as db:
        before = [c.id for c in consultation_repo.queue(db)]
    second.says("もう限界です")  # moderate
    with app.extensions["tsunagu"].sessions() as db:
        assert [c.id for c in consultation_repo.queue(db)] == list(reversed(before))
