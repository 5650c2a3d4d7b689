"""Issue 10 acceptance, over HTTP: a counselor of member A cannot list, open, claim, reply to, note or close
a consultation of member B until it is transferred to A or overflows; then they can. One rule
(storage/visibility.py) behind every route, the console pages included."""

import pytest
from sqlalchemy import select

from flows import texts
from storage import visibility
from storage.models import Consultation, Staff, Transfer
from tests.consortium import FAMILY_40S_FAMILY, SELF_20S_WORK, answer_intake, latest, queue_ids

pytest_plugins = ["tests.consortium_fixtures"]


def attempts(client, headers, cid):
    """What a counselor tries on one consultation: status code of each."""
    return {
        "list": cid in queue_ids(client, headers),
        "open": client.get(f"/api/v1/consultations/{cid}", headers=headers).status_code,
        "page": client.get(f"/console/c/{cid}", headers=headers).status_code,
        "note": client.post(f"/api/v1/consultations/{cid}/notes", headers=headers, json={"text": "メモ"}).status_code,
    }


def test_member_a_cannot_touch_a_waiting_consultation_of_member_b(app, client, user, consortium, staff_of):
    a, b = staff_of("kazokukai"), staff_of("saposute")
    answer_intake(user, SELF_20S_WORK)  # member B: the サポステ
    cid = latest(app).id
    assert attempts(client, a, cid) == {"list": False, "open": 403, "page": 403, "note": 403}
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=a).status_code == 403
    assert latest(app).state == "waiting"
    assert attempts(client, b, cid) == {"list": True, "open": 200, "page": 200, "note": 201}


def test_member_a_cannot_reply_to_note_or_close_member_bs_active_consultation(app, client, user, consortium, staff_of):
    a, b = staff_of("kazokukai"), staff_of("saposute")
    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=b).status_code == 200
    before = len(user.texts)
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=a, json={"text": "A です"}).status_code == 403
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=a,
                       json={"disposition": "information"}).status_code == 403
    assert attempts(client, a, cid)["note"] == 403
    assert len(user.texts) == before and latest(app).state == "active"


@pytest.mark.parametrize("opened_by", ["transfer", "overflow"])
def test_after_a_transfer_or_the_overflow_member_a_can_do_everything(app, client, user, consortium, staff_of, clock,
                                                                     opened_by):
    a, b = staff_of("kazokukai"), staff_of("saposute")
    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    assert attempts(client, a, cid)["open"] == 403
    if opened_by == "transfer":
        assert client.post(f"/api/v1/consultations/{cid}/claim", headers=b).status_code == 200
        r = client.post(f"/api/v1/consultations/{cid}/transfer", headers=b,
                        json={"to_organization": "kazokukai", "note": "ご家族の話が中心なので家族会へ"})
        assert r.status_code == 200
        assert attempts(client, b, cid)["open"] == 403  # it has left member B
    else:
        clock.advance(minutes=10)
    assert attempts(client, a, cid) == {"list": True, "open": 200, "page": 200, "note": 201}
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=a).status_code == 200
    assert client.post(f"/api/v1/consultations/{cid}/messages", headers=a, json={"text": "家族会の相談員です"}
                       ).status_code == 201
    assert user.last_text == "家族会の相談員です"
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=a,
                       json={"disposition": "information"}).status_code == 200


def test_a_transfer_carries_a_note_the_recipient_sees_keeps_the_history_and_tells_the_user_gently(
        app, client, user, consortium, staff_of):
    a, b = staff_of("kazokukai", login="kazoku-1"), staff_of("saposute", login="sapo-1")
    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    client.post(f"/api/v1/consultations/{cid}/claim", headers=b)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=b, json={"text": "こんばんは"})
    client.post(f"/api/v1/consultations/{cid}/transfer", headers=b,
                json={"to_organization": "kazokukai", "note": "お母さまとの関係の話が中心です"})
    assert user.last_text == texts.TRANSFERRED_TO_MEMBER
    detail = client.get(f"/api/v1/consultations/{cid}", headers=a).json
    assert detail["state"] == "waiting" and detail["counselor"] is None
    [handed] = detail["transfers"]
    assert (handed["from"], handed["to_staff"], handed["to_organization"], handed["note"]) == (
        "sapo-1", None, "ひきこもり家族会 ほっとの会", "お母さまとの関係の話が中心です")
    assert "こんばんは" in [m["text"] for m in detail["messages"]]  # the conversation goes with it
    assert detail["routing"][-1]["text"] == "sapo-1がひきこもり家族会 ほっとの会へ引き継ぎ"
    assert "引き継ぎ" in detail["queue_badges"]


def test_a_transfer_to_an_unknown_or_inactive_member_is_refused(app, client, user, consortium, staff_of):
    b = staff_of("saposute")
    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    client.post(f"/api/v1/consultations/{cid}/claim", headers=b)
    assert client.post(f"/api/v1/consultations/{cid}/transfer", headers=b,
                       json={"to_organization": "nowhere"}).status_code == 400
    assert client.post(f"/api/v1/consultations/{cid}/transfer", headers=b,
                       json={"to_organization": "kazokukai", "to": "someone"}).status_code == 400
    with app.extensions["tsunagu"].sessions.begin() as db:
        from storage.organizations import by_slug

        by_slug(db, "kazokukai").active = False
    assert client.post(f"/api/v1/consultations/{cid}/transfer", headers=b,
                       json={"to_organization": "kazokukai"}).status_code == 400
    assert latest(app).state == "active"
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalars(select(Transfer)).all() == []


def test_coordinators_see_their_organization_and_the_consortium_role_sees_all(app, client, make_user, consortium,
                                                                            staff_of):
    coordinator = staff_of("kazokukai", role="coordinator")
    consortium_coordinator, admin = staff_of(None, role="consortium"), staff_of(None, role="admin")
    family, young = make_user(), make_user()
    answer_intake(family, FAMILY_40S_FAMILY)
    family_id = latest(app).id
    answer_intake(young, SELF_20S_WORK)
    young_id = latest(app).id
    assert queue_ids(client, coordinator) == [family_id]
    assert client.get(f"/api/v1/consultations/{young_id}", headers=coordinator).status_code == 403
    assert queue_ids(client, consortium_coordinator) == [family_id, young_id]
    assert queue_ids(client, admin) == [family_id, young_id]


def test_the_filter_and_the_predicate_agree_for_every_consultation_and_viewer(app, make_user, consortium, staff_of,
                                                                             client, clock):
    """The list (SQL filter) and the one-consultation check (predicate) are one rule."""
    for intake in [FAMILY_40S_FAMILY, SELF_20S_WORK, SELF_20S_WORK, SELF_20S_WORK]:
        answer_intake(make_user(), intake)
        clock.advance(minutes=2)
    for slug in ("kazokukai", "saposute", "center", None):
        staff_of(slug)
    staff_of("center", role="coordinator")
    make_user().says("もう死にたい")
    seen = {}
    with app.extensions["tsunagu"].sessions() as db:
        everyone = db.scalars(select(Staff)).all()
        consultations = db.scalars(select(Consultation)).all()
        for viewer in everyone:
            listed = {c.id for c in db.scalars(select(Consultation).where(visibility.visible_filter(viewer, clock())))}
            one_by_one = {c.id for c in consultations if visibility.may_see(db, viewer, c, clock())}
            assert listed == one_by_one
            seen[viewer.login] = len(listed)
    # Family association: its own, the shared one, the one at risk; サポステ: its two, shared, at risk; …
    assert seen == {"kazokukai-counselor-1": 3, "saposute-counselor-1": 4, "center-counselor-1": 2,
                    "shared-counselor-1": 2, "center-coordinator-2": 2}
