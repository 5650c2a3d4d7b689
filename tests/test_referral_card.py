"""Issue 10: closing with a referral to a member sends that member's card (a LINE Flex message with what it
is, how to contact it and its hours) in one click, through the real SDK to the emulator, and the referral
is counted in the statistics by destination."""

import pytest

from storage import organizations as org_repo
from storage import stats
from storage.models import Consultation
from tests.consortium import SELF_20S_WORK, answer_intake, latest

pytest_plugins = ["tests.consortium_fixtures"]


def active_consultation(app, client, user, headers):
    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=headers).status_code == 200
    return cid


def flex_texts(node):
    """Every text in a Flex bubble, depth first (what the phone shows inside the card)."""
    if isinstance(node, dict):
        return ([node["text"]] if node.get("type") == "text" else []) + [
            t for v in node.values() for t in flex_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in flex_texts(v)]
    return []


def test_closing_with_a_referral_sends_the_members_card_and_counts_it(app, client, user, consortium, staff_of, clock):
    counselor = staff_of("saposute")
    cid = active_consultation(app, client, user, counselor)
    r = client.post(f"/api/v1/consultations/{cid}/close", headers=counselor,
                    json={"disposition": "referral", "referral_org": "kazokukai"})
    assert r.status_code == 200
    [card] = [m for m in user.received if m["type"] == "flex"]
    assert card["alt_text"] == "相談先のご案内：ひきこもり家族会 ほっとの会"
    shown = flex_texts(card["message"]["contents"])
    assert shown[0] == "ひきこもり家族会 ほっとの会"
    assert "電話 011-000-0101（平日10:00〜16:00）／メール hotto@example.org" in shown
    assert "月例会：毎月第2土曜 13:30〜15:30（札幌市内）" in shown
    footer = card["message"]["contents"]["footer"]["contents"][0]
    assert footer["action"] == {"type": "uri", "label": "くわしく見る", "uri": "https://example.org/hotto"}
    assert user.quick_replies == ["よかった", "ふつう", "よくなかった"]  # the survey still follows
    with app.extensions["tsunagu"].sessions() as db:
        c = db.get(Consultation, cid)
        assert (c.disposition, c.referral) == ("referral", "family_association")
        assert c.referral_organization_id == org_repo.by_slug(db, "kazokukai").id
        figures = stats.referrals(db, stats.fiscal_year(2026), stats.Scope())
    assert figures["family_association"] == 1 and sum(figures.values()) == 1


@pytest.mark.parametrize("member,category", [
    ("saposute", "support_station"), ("center", "regional_center"), ("yururi", "peer_group"),
    ("hidamari", "ibasho"), ("kurashi", "other"),
])
def test_each_members_card_counts_under_its_kind(app, client, user, consortium, staff_of, member, category):
    counselor = staff_of("saposute")
    cid = active_consultation(app, client, user, counselor)
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=counselor,
                       json={"disposition": "referral", "referral_org": member}).status_code == 200
    assert len([m for m in user.received if m["type"] == "flex"]) == 1
    with app.extensions["tsunagu"].sessions() as db:
        figures = stats.referrals(db, stats.fiscal_year(2026), stats.Scope())
    assert figures[category] == 1 and sum(figures.values()) == 1


def test_a_referral_card_needs_a_member_with_a_card_and_the_referral_disposition(app, client, user, consortium,
                                                                                staff_of):
    counselor = staff_of("saposute")
    cid = active_consultation(app, client, user, counselor)
    for body in ({"disposition": "information", "referral_org": "kazokukai"},
                 {"disposition": "referral", "referral_org": "no-such-member"}):
        assert client.post(f"/api/v1/consultations/{cid}/close", headers=counselor, json=body).status_code == 400
    assert latest(app).state == "active"
    assert [m for m in user.received if m["type"] == "flex"] == []
    # A referral without a member (medical care) still works as before: no card.
    assert client.post(f"/api/v1/consultations/{cid}/close", headers=counselor,
                       json={"disposition": "referral", "referral": "medical"}).status_code == 200
    assert [m for m in user.received if m["type"] == "flex"] == []


def test_the_chat_page_offers_the_members_cards_and_the_member_transfer(app, client, user, consortium, clock):
    import re

    from storage import staff as staff_repo
    from tests.consortium import PASSWORD

    answer_intake(user, SELF_20S_WORK)
    cid = latest(app).id
    with app.extensions["tsunagu"].sessions.begin() as db:
        staff_repo.create(db, "sapo-page", PASSWORD, "counselor", org_repo.by_slug(db, "saposute"), clock())
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/login").get_data(as_text=True))
    client.post("/console/login", data={"login": "sapo-page", "password": PASSWORD, "csrf_token": token.group(1)})
    page = client.get(f"/console/c/{cid}").get_data(as_text=True)
    cards = re.search(r'<select id="referral-org">(.*?)</select>', page, re.S).group(1)
    assert '<option value="kazokukai">ひきこもり家族会 ほっとの会</option>' in cards
    members = re.search(r'<select id="transfer-org">(.*?)</select>', page, re.S).group(1)
    assert 'value="center"' in members and 'value="default"' not in members
