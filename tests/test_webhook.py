"""POST /callback as LINE calls it: signatures, malformed bodies, redelivery, one event at a time."""

import json
import logging

from sqlalchemy import func, select

from storage.models import Client, InboxEvent, Message
from tests.conftest import CHANNEL_SECRET, FrozenClock  # noqa: F401


def count(app, model):
    with app.extensions["tsunagu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def signed_post(client, platform, body: bytes, signature: str | None = None):
    headers = {"X-Line-Signature": platform.sign(body) if signature is None else signature}
    return client.post("/callback", data=body, content_type="application/json", headers=headers)


def test_follow_gets_the_warm_greeting_with_hours_and_emergency_numbers(user):
    assert user.follows().status_code == 200
    greeting = user.last_text
    assert "匿名" in greeting and "16:00〜21:00" in greeting and "119" in greeting


def test_lines_verify_request_with_no_events_gets_200(client, line):
    assert signed_post(client, line.platform, b'{"destination":"U0","events":[]}').status_code == 200


def test_a_wrong_signature_is_refused_and_nothing_is_stored(app, client, line, user):
    body = line.platform.body([line.platform.text_event(user.user_id, "こんにちは")])
    assert signed_post(client, line.platform, body, signature="bm90IHRoZSBzaWduYXR1cmU=").status_code == 400
    assert client.post("/callback", data=body, content_type="application/json").status_code == 400
    assert count(app, InboxEvent) == 0 and count(app, Message) == 0
    assert line.platform.inbox(user.user_id) == []


def test_truncated_json_is_a_400_and_the_server_stays_healthy(client, line):
    body = b'{"destination":"U0","events":[{"type":"message",'
    assert signed_post(client, line.platform, body).status_code == 400
    assert signed_post(client, line.platform, b"[1,2,3]").status_code == 400
    assert client.get("/healthz").status_code == 200


def test_an_oversized_body_is_refused(client, line):
    body = json.dumps({"events": [], "pad": "x" * 1_100_000}).encode()
    assert signed_post(client, line.platform, body).status_code == 413


def test_a_redelivered_event_is_acknowledged_and_changes_nothing(app, client, line, user):
    event = line.platform.text_event(user.user_id, "こんにちは")
    user.post([event])
    before = (count(app, Message), len(user.received))
    again = line.platform.redelivery(event)
    assert again["deliveryContext"]["isRedelivery"] is True
    assert user.post([again]).status_code == 200
    assert (count(app, Message), len(user.received)) == before


def test_a_redelivered_event_we_never_saw_is_acted_on(app, line, user):
    event = line.platform.redelivery(line.platform.text_event(user.user_id, "こんにちは"))
    user.post([event])
    assert count(app, Message) >= 1 and user.received


def test_one_unknown_event_does_not_drop_the_others_in_the_same_body(app, line, user):
    strange = {"type": "somethingNew", "mode": "active", "timestamp": 1, "webhookEventId": "01STRANGE",
               "source": {"type": "user", "userId": user.user_id}, "deliveryContext": {"isRedelivery": False}}
    broken = {"type": "message", "mode": "active", "timestamp": 1, "webhookEventId": "01BROKEN",
              "source": {"type": "user", "userId": user.user_id}, "message": {"type": "text"}}
    good = line.platform.text_event(user.user_id, "相談したいです")
    assert user.post([strange, broken, good]).status_code == 200
    assert user.received, "the good event was acted on"
    assert count(app, InboxEvent) == 3


def test_group_messages_are_not_relayed_and_the_bot_leaves(app, client, line):
    event = {"type": "message", "mode": "active", "timestamp": 1, "webhookEventId": "01GROUPMSG",
             "replyToken": "0" * 32, "deliveryContext": {"isRedelivery": False},
             "source": {"type": "group", "groupId": "Cgroup1", "userId": "U" + "1" * 32},
             "message": {"type": "text", "id": "1", "text": "グループの会話"}}
    response = signed_post(client, line.platform, line.platform.body([event]))
    response.close()
    assert response.status_code == 200
    assert count(app, Message) == 0 and count(app, Client) == 0
    assert ("POST", "/v2/bot/group/Cgroup1/leave") in [(c[0], c[1]) for c in line.platform.api_calls()]


def test_no_line_user_id_in_the_logs(user, caplog):
    caplog.set_level(logging.DEBUG)
    user.follows()
    user.says("こんにちは")
    user.taps("同意して進む")
    assert caplog.records, "the service logs its work"
    assert all(user.user_id not in r.getMessage() for r in caplog.records)
    # and no profile is ever fetched: the service only replies and pushes
    assert not [c for c in user.platform.api_calls() if "/profile" in c.path]


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"
