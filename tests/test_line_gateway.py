"""The LINE gateway, over HTTP to the emulator: what it sends is exactly what the SDK serializes, the
SDK's validation still refuses what LINE would refuse (as a refusal, not a crash), and a message sent
again (the same prompt to many users) is not built by the SDK again."""

from __future__ import annotations

import uuid

import pytest
from linebot.v3.messaging import ReplyMessageRequest
from linebot.v3.messaging.models.message import Message

from bot.line_client import ACCEPTED, REFUSED, LineGateway, PreparedMessages
from tests.conftest import ACCESS_TOKEN

PROMPT = {"type": "text", "text": "どなたのことでのご相談ですか？",
          "quickReply": {"items": [{"type": "action", "action": {"type": "message", "label": label, "text": label}}
                                   for label in ("ご本人", "ご家族", "その他")]}}


@pytest.fixture
def gateway(line):
    g = LineGateway(line.url, ACCESS_TOKEN)
    yield g
    g.close()


def reply_token(line, user_id: str) -> str:
    return line.platform.text_event(user_id, "こんばんは")["replyToken"]


def test_a_prompt_replied_and_pushed_arrives_as_the_sdk_serializes_it(line, gateway):
    a, b = line.platform.add_user(), line.platform.add_user()
    assert gateway.reply(reply_token(line, a), [PROMPT]).outcome == ACCEPTED
    assert gateway.push(b, [PROMPT], str(uuid.uuid4())).outcome == ACCEPTED

    sdk = ReplyMessageRequest(reply_token="t", messages=[Message.from_dict(PROMPT)]).to_dict()["messages"]
    delivered = line.platform.deliveries()
    assert [d["user_id"] for d in delivered] == [a, b]
    assert [d["message"] for d in delivered] == sdk * 2


def test_the_same_message_is_built_by_the_sdk_once(line, gateway, monkeypatch):
    built = []
    original = Message.from_dict

    def counting(cls, obj):  # noqa: ANN001, ANN202
        built.append(obj)
        return original(obj)

    monkeypatch.setattr(Message, "from_dict", classmethod(counting))
    users = [line.platform.add_user() for _ in range(3)]
    for user in users:
        assert gateway.reply(reply_token(line, user), [PROMPT]).outcome == ACCEPTED
    assert gateway.reply(reply_token(line, users[0]), [{"type": "text", "text": "別の文"}]).outcome == ACCEPTED

    assert len(built) == 2  # the prompt once, the other text once
    assert [d["user_id"] for d in line.platform.deliveries()] == [*users, users[0]]


@pytest.mark.parametrize("messages", [
    [{"type": "text"}],  # no text
    [{"type": "text", "text": "x"}] * 6,  # LINE takes at most 5 per request
    [{"type": "no-such-type", "text": "x"}],
])
def test_a_message_the_sdk_refuses_is_refused_and_never_sent(line, gateway, messages):
    user = line.platform.add_user()
    token = reply_token(line, user)
    for _ in range(2):  # a refused message is not kept: refused again, not sent the second time either
        assert gateway.reply(token, messages).outcome == REFUSED
        assert gateway.push(user, messages, str(uuid.uuid4())).outcome == REFUSED
    assert line.platform.deliveries() == []
    assert gateway.reply(token, [PROMPT]).outcome == ACCEPTED  # the token was never spent


def test_kept_messages_are_dropped_when_full_and_after_an_hour(monkeypatch):
    # Kept in memory only, and not for long: a counselor's words do not linger in the process.
    now = [0.0]
    kept = PreparedMessages(clock=lambda: now[0])
    built = []
    original = Message.from_dict
    monkeypatch.setattr(Message, "from_dict", classmethod(lambda cls, obj: built.append(obj) or original(obj)))

    kept([PROMPT])
    now[0] = PreparedMessages.MAX_AGE - 1
    kept([PROMPT])
    assert len(built) == 1
    now[0] = PreparedMessages.MAX_AGE + 1
    kept([PROMPT])
    assert len(built) == 2  # an hour on: built again

    for i in range(PreparedMessages.MAX + 1):
        kept([{"type": "text", "text": f"#{i}"}])
    assert len(kept._kept) <= PreparedMessages.MAX
