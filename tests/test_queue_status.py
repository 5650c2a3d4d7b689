"""Issue 10: the user is told where they stand — on joining the queue and whenever they ask (「あと何人？」,
「何番目？」 or the quick reply) — with an honest expected wait from recent figures (「わからない」 when there
are too few), can ask to be told when it is their turn (exactly one push), and can ask for the counselor
of last time when that counselor is on duty. A person at risk never hears of a queue."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.jobs import run_all
from flows import texts
from storage import consultations as consultation_repo
from storage.models import Client, Consultation, RoutingDecision
from tests.consortium import Intake, answer_intake, latest, queue_ids

pytest_plugins = ["tests.consortium_fixtures"]

SHARED = Intake("その他", "30代", "その他")  # no rule matches: the shared queue, which everyone sees


def past_waits(app, clock, minutes, *, training=False, at_risk=False):
    """Consultations answered in the last days, each after waiting `minutes[i]`."""
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        for i, m in enumerate(minutes):
            key = f"{i}-{training:d}{at_risk:d}"
            client = Client(user_hash=f"past{key}".ljust(64, "0"), pseudonym=f"相談者-P{key}",
                            first_seen_at=clock(), last_seen_at=clock(), is_training=training)
            db.add(client)
            db.flush()
            c = consultation_repo.create(db, client, org, clock() - timedelta(days=1), state="closed")
            c.queued_at = clock() - timedelta(days=1, hours=1)
            c.claimed_at = c.queued_at + timedelta(minutes=m)
            c.risk_rank = 2 if at_risk else 0


def pushes(user, text):
    return [m for m in user.received if m.get("text") == text and m["via"] == "push"]


def test_joining_the_queue_tells_the_position_and_the_median_recent_wait(app, make_user, clock):
    past_waits(app, clock, [3, 12, 14, 16, 40])  # median 14 minutes -> "about 15"
    first, second = make_user(), make_user()
    answer_intake(first, SHARED)
    answer_intake(second, SHARED)
    assert first.last_text == texts.QUEUED_FIRST
    assert "いま1人の方がお待ちです" in second.last_text
    assert texts.WAIT_ESTIMATE.format(wait="15分") in second.last_text
    assert second.quick_replies == [texts.POSITION_ASK, texts.NOTIFY_ASK]


def test_with_too_few_recent_figures_the_bot_says_it_does_not_know(app, make_user, clock):
    past_waits(app, clock, [10, 12, 14, 16])  # four: not enough to say
    past_waits(app, clock, [1, 1, 1], training=True)  # practice users do not count
    past_waits(app, clock, [0, 0, 0], at_risk=True)  # nor those who jumped the queue
    first, second = make_user(), make_user()
    answer_intake(first, SHARED)
    answer_intake(second, SHARED)
    assert texts.WAIT_UNKNOWN in second.last_text and "分でした" not in second.last_text


@pytest.mark.parametrize("asked", ["あと何人？", "何番目?", "あと何人", texts.POSITION_ASK])
def test_asking_gives_the_position_in_the_consoles_own_order(app, make_user, clock, asked):
    past_waits(app, clock, [5, 5, 10, 10, 10])
    ahead, me = make_user(), make_user()
    answer_intake(ahead, SHARED)
    clock.advance(minutes=1)
    answer_intake(me, SHARED)
    me.says(asked)
    assert me.last_text == texts.POSITION_AHEAD.format(ahead=1) + "\n" + texts.WAIT_ESTIMATE.format(wait="10分")
    ahead.says("終了")  # the one ahead leaves
    me.says(asked)
    assert me.last_text == texts.POSITION_NEXT


def test_the_position_follows_the_fair_order_a_moderate_message_moves_the_user_up(app, make_user, clock, client,
                                                                                  staff_of):
    shared = staff_of(None)
    calm, worried = make_user(), make_user()
    answer_intake(calm, SHARED)
    clock.advance(minutes=3)
    answer_intake(worried, SHARED)
    worried.says("生きてる意味がわからない")  # moderate: counts as 10 minutes of waiting
    worried.says(texts.POSITION_ASK)
    assert worried.last_text == texts.POSITION_NEXT
    calm.says(texts.POSITION_ASK)
    assert calm.last_text.startswith(texts.POSITION_AHEAD.format(ahead=1))
    worried_id = latest(app).id
    assert queue_ids(client, shared) == [worried_id, worried_id - 1]  # the console agrees


def test_notify_me_sends_exactly_one_push_when_the_turn_comes(app, client, make_user, clock, staff_of):
    counselor = staff_of(None)
    first, second, me = make_user(), make_user(), make_user()
    for u in (first, second, me):
        answer_intake(u, SHARED)
        clock.advance(minutes=1)
    me.taps(texts.NOTIFY_ASK)
    assert me.last_text == texts.NOTIFY_OK
    assert texts.NOTIFY_ASK not in me.quick_replies  # asked once is enough
    ids = queue_ids(client, counselor)
    client.post(f"/api/v1/consultations/{ids[0]}/claim", headers=counselor)
    assert pushes(me, texts.TURN_NEXT) == []  # one still ahead
    clock.advance(minutes=2)
    client.post(f"/api/v1/consultations/{ids[1]}/claim", headers=counselor)
    assert len(pushes(me, texts.TURN_NEXT)) == 1  # now they are next: one push, at once
    run_all(app.extensions["tsunagu"])
    run_all(app.extensions["tsunagu"])
    client.post(f"/api/v1/consultations/{ids[2]}/claim", headers=staff_of(None))
    assert len(pushes(me, texts.TURN_NEXT)) == 1
    assert me.last_text == texts.COUNSELOR_JOINED
    with app.extensions["tsunagu"].sessions() as db:
        assert db.get(Consultation, ids[2]).notified_at is not None


def test_notify_me_when_already_next_is_answered_at_once_and_never_pushed_again(app, client, user, clock, staff_of):
    answer_intake(user, SHARED)
    user.says(texts.NOTIFY_ASK)
    assert user.last_text == texts.NOTIFY_NOW
    run_all(app.extensions["tsunagu"])
    assert pushes(user, texts.TURN_NEXT) == []


def test_the_sweep_tells_a_user_who_became_next_because_someone_ahead_left(app, make_user, clock):
    ahead, me = make_user(), make_user()
    answer_intake(ahead, SHARED)
    clock.advance(minutes=1)
    answer_intake(me, SHARED)
    me.taps(texts.NOTIFY_ASK)
    ahead.says("終了")
    assert run_all(app.extensions["tsunagu"])["notify_turns"] == 1
    assert run_all(app.extensions["tsunagu"])["notify_turns"] == 0
    assert len(pushes(me, texts.TURN_NEXT)) == 1


def test_a_person_at_risk_never_hears_of_a_queue(app, make_user, clock):
    ahead, me = make_user(), make_user()
    answer_intake(ahead, SHARED)
    answer_intake(me, SHARED)
    me.taps(texts.NOTIFY_ASK)
    me.says("もう死にたい")
    promised = len(me.texts)
    for asked in ("あと何人？", "何番目？", texts.NOTIFY_ASK, texts.SAME_COUNSELOR_ASK):
        clock.advance(minutes=4)
        me.says(asked)
    ahead.says("終了")
    run_all(app.extensions["tsunagu"])
    after = me.texts[promised:]
    assert after and all("順番" not in t and "人の方がお待ち" not in t for t in after)
    assert set(after) == {texts.AT_RISK_WAITING_ACK}
    assert pushes(me, texts.TURN_NEXT) == []
    assert all(texts.NOTIFY_ASK not in (m.get("quick_replies") or []) for m in me.received[promised:])


def test_the_counselor_of_last_time_is_offered_when_on_duty_and_chosen_routes_to_them(app, client, user, consortium,
                                                                                     staff_of, clock):
    mine = staff_of("kazokukai", login="kazoku-yamada")
    answer_intake(user, SHARED)
    cid = latest(app).id
    client.post(f"/api/v1/consultations/{cid}/claim", headers=mine)
    client.post(f"/api/v1/consultations/{cid}/close", headers=mine, json={"disposition": "continuing"})
    clock.advance(days=2)
    client.get("/api/v1/queue", headers=mine)  # signed in tonight: on duty
    user.says("こんばんは")  # consented last time: straight to "the same answers?"
    user.taps(texts.WELCOME_BACK_SAME)
    user.says("また話を聞いてほしいです")
    assert texts.SAME_COUNSELOR_OFFER in user.last_text
    assert texts.SAME_COUNSELOR_ASK in user.quick_replies
    user.taps(texts.SAME_COUNSELOR_ASK)
    assert user.last_text == texts.SAME_COUNSELOR_OK
    again = latest(app)
    assert again.id != cid and again.organization.slug == "kazokukai"
    [row] = client.get("/api/v1/queue", headers=mine).json["queue"]
    assert row["preferred_counselor"] == "kazoku-yamada" and "指名" in row["queue_badges"]
    with app.extensions["tsunagu"].sessions() as db:
        kinds = [d.kind for d in db.scalars(select(RoutingDecision).where(RoutingDecision.consultation_id == again.id))]
    assert kinds == ["routed", "same_counselor"]


def test_the_counselor_of_last_time_is_not_offered_when_off_duty(app, client, user, consortium, staff_of, clock):
    mine = staff_of("kazokukai")
    answer_intake(user, SHARED)
    cid = latest(app).id
    client.post(f"/api/v1/consultations/{cid}/claim", headers=mine)
    client.post(f"/api/v1/consultations/{cid}/close", headers=mine, json={"disposition": "continuing"})
    clock.advance(days=2)  # not seen in the console tonight
    user.says("こんばんは")  # consented last time: straight to "the same answers?"
    user.taps(texts.WELCOME_BACK_SAME)
    user.says("また話を聞いてほしいです")
    assert texts.SAME_COUNSELOR_OFFER not in user.last_text
    assert texts.SAME_COUNSELOR_ASK not in user.quick_replies
    user.says(texts.SAME_COUNSELOR_ASK)  # typed anyway
    assert user.last_text == texts.SAME_COUNSELOR_UNAVAILABLE
    assert latest(app).organization.is_default
