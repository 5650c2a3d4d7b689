"""Issue 10 acceptance, through the webhook with the sample consortium (flows/consortium.sample.toml):
the right member answers, a full or closed member falls back to the shared queue, a long wait overflows
to every member, and a person at risk is seen by every counselor at once."""

from datetime import timedelta

from sqlalchemy import select

from bot.jobs import run_all
from flows import texts
from storage.models import Consultation, Organization, RoutingDecision
from tests.consortium import FAMILY_40S_FAMILY, MONDAY_2030, SELF_20S_WORK, Intake, answer_intake, latest, queue_ids

pytest_plugins = ["tests.consortium_fixtures"]


def decisions(app, cid):
    with app.extensions["tsunagu"].sessions() as db:
        return [(d.kind, d.reason, d.rule, [(t["slug"], t["outcome"]) for t in d.candidates])
                for d in db.scalars(select(RoutingDecision).where(RoutingDecision.consultation_id == cid)
                                    .order_by(RoutingDecision.id))]


def test_a_family_member_with_a_son_in_his_40s_worried_about_the_family_goes_to_the_family_association(
        app, client, user, consortium, staff_of):
    kazokukai, saposute = staff_of("kazokukai"), staff_of("saposute")
    answer_intake(user, FAMILY_40S_FAMILY)
    c = latest(app)
    assert (c.state, c.organization.slug) == ("waiting", "kazokukai")
    assert decisions(app, c.id) == [("routed", "rule_matched", "ご家族からの相談", [("kazokukai", "taken")])]
    assert queue_ids(client, kazokukai) == [c.id]
    assert queue_ids(client, saposute) == []
    # The chat view says why it is there.
    detail = client.get(f"/api/v1/consultations/{c.id}", headers=kazokukai).json
    assert detail["routing"][0]["text"] == "ルール「ご家族からの相談」によりひきこもり家族会 ほっとの会へ"
    assert detail["organization_name"] == "ひきこもり家族会 ほっとの会"


def test_a_self_in_their_20s_who_wants_to_work_goes_to_the_youth_support_station(
        app, client, user, consortium, staff_of):
    saposute, kazokukai = staff_of("saposute"), staff_of("kazokukai")
    answer_intake(user, SELF_20S_WORK)
    c = latest(app)
    assert c.organization.slug == "saposute"
    assert queue_ids(client, saposute) == [c.id]
    assert queue_ids(client, kazokukai) == []


def test_when_the_youth_support_station_is_full_the_next_one_waits_in_the_shared_queue(
        app, client, make_user, consortium, staff_of):
    kazokukai = staff_of("kazokukai")
    first, second, third = make_user(), make_user(), make_user()
    answer_intake(first, SELF_20S_WORK)
    answer_intake(second, SELF_20S_WORK)  # its capacity in the sample file is 2
    answer_intake(third, SELF_20S_WORK)
    c = latest(app)
    assert c.organization.is_default
    assert decisions(app, c.id) == [("routed", "none_available", "ご本人・仕事のこと（10〜40代）",
                                     [("saposute", "full")])]
    assert queue_ids(client, kazokukai) == [c.id]  # the shared queue: every member sees it
    detail = client.get(f"/api/v1/consultations/{c.id}", headers=kazokukai).json
    assert detail["routing"][0]["tried"] == [{"slug": "saposute", "outcome": "full", "label": "満員"}]
    assert detail["queue_badges"] == ["共有"]


def test_when_the_youth_support_station_is_not_staffed_tonight_it_waits_in_the_shared_queue(
        app, client, user, consortium, staff_of, clock):
    clock.set(MONDAY_2030)  # the service is open till 21:00; the サポステ member's evening ended at 20:00
    answer_intake(user, SELF_20S_WORK)
    c = latest(app)
    assert c.organization.is_default
    assert decisions(app, c.id)[0][1:] == ("none_available", "ご本人・仕事のこと（10〜40代）",
                                           [("saposute", "not_staffed")])


def test_with_the_family_association_closed_a_family_member_goes_to_the_next_member_of_the_rule(
        app, user, consortium, clock):
    clock.set(clock().replace(day=24))  # a Tuesday: the family association has no evening on Tuesdays
    answer_intake(user, FAMILY_40S_FAMILY)
    c = latest(app)
    assert c.organization.slug == "center"
    assert decisions(app, c.id)[0][3] == [("kazokukai", "not_staffed"), ("center", "taken")]


def test_no_matching_rule_means_the_shared_queue(app, user, consortium):
    answer_intake(user, Intake("その他", "30代", "その他"))
    c = latest(app)
    assert c.organization.is_default
    assert decisions(app, c.id) == [("routed", "no_rule", None, [])]


def test_after_the_overflow_time_every_member_sees_it(app, client, user, consortium, staff_of, clock):
    kazokukai, saposute, peers = staff_of("kazokukai"), staff_of("saposute"), staff_of("yururi")
    answer_intake(user, FAMILY_40S_FAMILY)
    c = latest(app)
    clock.advance(minutes=9, seconds=59)
    assert queue_ids(client, saposute) == [] and queue_ids(client, peers) == []
    assert client.get(f"/api/v1/consultations/{c.id}", headers=saposute).status_code == 403
    clock.advance(seconds=1)  # OVERFLOW_MINUTES (10) after it was routed
    assert queue_ids(client, saposute) == [c.id] and queue_ids(client, peers) == [c.id]
    assert queue_ids(client, kazokukai) == [c.id]
    # The sweep records the overflow once, for the chat view.
    run_all(app.extensions["tsunagu"])
    run_all(app.extensions["tsunagu"])
    assert [d[:2] for d in decisions(app, c.id)] == [("routed", "rule_matched"), ("overflow", "overflow_wait")]
    detail = client.get(f"/api/v1/consultations/{c.id}", headers=saposute).json
    assert detail["queue_badges"] == ["全団体"]
    assert detail["routing"][-1]["text"] == "待ち時間が長くなったため、すべての団体の相談員に表示"


def test_a_high_risk_message_is_visible_to_every_counselor_on_duty_at_once(app, client, user, consortium,
                                                                          staff_of):
    everyone = [staff_of(slug) for slug in ("kazokukai", "saposute", "yururi", "hidamari", "kurashi", "center")]
    everyone.append(staff_of(None))
    answer_intake(user, SELF_20S_WORK)
    c = latest(app)
    assert c.organization.slug == "saposute"
    assert queue_ids(client, everyone[0]) == []
    user.says("もう死にたい")
    assert texts.CRISIS_QUEUED in user.texts
    for headers in everyone:
        assert queue_ids(client, headers) == [c.id]
        assert [a["id"] for a in client.get("/api/v1/alerts", headers=headers).json["alerts"]] == [c.id]
    assert decisions(app, c.id)[-1][:2] == ("at_risk", "at_risk_high")


def test_a_crisis_before_any_intake_answer_goes_to_the_shared_queue_and_to_everyone(app, client, user, consortium,
                                                                                     staff_of):
    kazokukai = staff_of("kazokukai")
    user.says("もう死にたい")
    c = latest(app)
    assert c.organization.is_default and c.risk_level == "high"
    assert queue_ids(client, kazokukai) == [c.id]
    assert [d[:2] for d in decisions(app, c.id)] == [("routed", "no_rule"), ("at_risk", "at_risk_high")]


def test_claiming_from_the_shared_queue_makes_it_the_claimers_member(app, client, make_user, consortium, staff_of):
    kazokukai, center = staff_of("kazokukai"), staff_of("center")
    for u in (make_user(), make_user(), make_user()):
        answer_intake(u, SELF_20S_WORK)
    c = latest(app)  # the third: サポステ full, so the shared queue
    assert client.post(f"/api/v1/consultations/{c.id}/claim", headers=kazokukai).status_code == 200
    with app.extensions["tsunagu"].sessions() as db:
        assert db.get(Consultation, c.id).organization.slug == "kazokukai"
    assert client.get(f"/api/v1/consultations/{c.id}", headers=center).status_code == 403
    assert [d[:2] for d in decisions(app, c.id)] == [("routed", "none_available"), ("taken", "from_shared")]


def test_the_overflow_wait_is_the_overflow_minutes_setting(settings, clock, line, consortium):
    from dataclasses import replace

    from bot.app import create_app
    from bot.config import load_settings
    from tests.conftest import LineUser

    assert load_settings({"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40,
                          "OVERFLOW_MINUTES": "3"}).overflow_minutes == 3
    app = create_app(replace(settings, overflow_minutes=3), clock=clock)
    try:
        http = app.test_client()
        answer_intake(LineUser(line.platform, http), FAMILY_40S_FAMILY)
        c = latest(app)
        assert c.overflow_at == clock() + timedelta(minutes=3)
    finally:
        svc = app.extensions["tsunagu"]
        svc.sender.stop()
        svc.outbox.wait_idle()
        svc.engine.dispose()


def test_two_consultations_routed_at_once_into_the_last_free_place_one_gets_it(app, database_url, consortium, clock):
    """Run on SQLite and on PostgreSQL: the capacity check and the placement cannot interleave."""
    import threading

    from flows.routing import RoutingPolicy, route
    from storage import consultations as consultation_repo
    from storage.db import make_engine, make_session_factory, serialize
    from storage.models import Client

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    ids = []
    with sessions.begin() as db:
        db.execute(Organization.__table__.update().where(Organization.slug == "saposute").values(capacity=1))
        shared = consultation_repo.ensure_default_organization(db, clock())
        for i in range(2):
            client = Client(user_hash=f"race{i}".ljust(64, "0"), pseudonym=f"相談者-R{i}", first_seen_at=clock(),
                            last_seen_at=clock())
            db.add(client)
            db.flush()
            c = consultation_repo.create(db, client, shared, clock(), state="intake")
            c.who, c.age_band, c.concern = "self", "20s", "work"
            ids.append(c.id)
    barrier = threading.Barrier(2)

    def enter(cid):
        with sessions.begin() as db:
            barrier.wait()
            serialize(db, None)  # how every unit of work that writes begins (storage/db.py)
            c = db.get(Consultation, cid)
            c.state, c.queued_at = "waiting", clock()
            route(db, RoutingPolicy(), c, clock())

    threads = [threading.Thread(target=enter, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    with app.extensions["tsunagu"].sessions() as db:
        assert sorted(db.get(Consultation, cid).organization.slug for cid in ids) == ["default", "saposute"]
