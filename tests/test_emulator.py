"""The LINE platform emulator, checked against the official SDK over real HTTP: if the SDK and LINE's
published rules agree with it here, the service's tests against it mean something."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic.v1
import pytest
import requests
import urllib3
from flask import Flask, request
from linebot.v3 import SignatureValidator, WebhookParser
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ChatReference,
    Configuration,
    MarkMessagesAsReadByTokenRequest,
    MarkMessagesAsReadRequest,
    MessageAction,
    MessagingApi,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.webhooks import (
    CallbackRequest,
    Event,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from linesim import EmulatorServer, LinePlatform, create_blueprint

SECRET = "emulator-test-secret"
TOKEN = "emulator-test-token"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(clock: Clock) -> LinePlatform:
    return LinePlatform(SECRET, TOKEN, clock=clock)


@pytest.fixture
def server(platform: LinePlatform) -> Iterator[EmulatorServer]:
    with EmulatorServer(platform) as server:
        yield server


def sdk(host: str, token: str = TOKEN) -> MessagingApi:
    config = Configuration(host=host, access_token=token)
    config.retries = False  # as the service's gateway does: a timeout must surface, not be retried
    return MessagingApi(ApiClient(config))


@pytest.fixture
def api(server: EmulatorServer) -> MessagingApi:
    return sdk(server.url)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy from the environment
        yield session


@pytest.fixture
def user_id(platform: LinePlatform) -> str:
    user_id = platform.add_user("さくら")
    platform.follow_event(user_id)
    return user_id


def text(value: str, *labels: str) -> TextMessage:
    items = [QuickReplyItem(action=MessageAction(label=label, text=label)) for label in labels]
    return TextMessage(text=value, quick_reply=QuickReply(items=items) if items else None)


def push(api: MessagingApi, to: str, *messages: TextMessage, key: str | None = None) -> Any:
    return api.push_message(PushMessageRequest(to=to, messages=list(messages)), x_line_retry_key=key)


def reply(api: MessagingApi, token: str, *messages: TextMessage) -> Any:
    return api.reply_message(ReplyMessageRequest(reply_token=token, messages=list(messages)))


def texts(platform: LinePlatform, user_id: str) -> list[str]:
    return [m["text"] for m in platform.inbox(user_id)]


def statuses(platform: LinePlatform) -> list[int]:
    return [call.status for call in platform.api_calls()]


# --- replies --------------------------------------------------------------------------------------------


def test_a_reply_token_works_once_and_a_second_reply_with_it_is_refused(platform, api, user_id):
    event = platform.text_event(user_id, "こんばんは")
    answer = reply(api, event["replyToken"], text("こんばんは、つなぐです。", "話したい", "あとで"))
    assert answer.sent_messages[0].id.isdigit() and answer.sent_messages[0].quote_token
    with pytest.raises(ApiException) as refused:
        reply(api, event["replyToken"], text("二通目"))
    assert refused.value.status == 400 and "Invalid reply token" in refused.value.body
    [message] = platform.inbox(user_id)
    assert message["text"] == "こんばんは、つなぐです。" and message["via"] == "reply"
    assert message["quick_replies"] == ["話したい", "あとで"]


def test_a_reply_token_expires_after_its_time_to_live(platform, api, user_id, clock):
    on_time, late = platform.text_event(user_id, "一"), platform.text_event(user_id, "二")
    clock.advance(seconds=60)
    reply(api, on_time["replyToken"], text("間に合った"))
    clock.advance(seconds=1)
    with pytest.raises(ApiException) as refused:
        reply(api, late["replyToken"], text("遅すぎた"))
    assert refused.value.status == 400
    assert texts(platform, user_id) == ["間に合った"]


def test_a_made_up_reply_token_is_refused(api, platform, user_id):
    with pytest.raises(ApiException) as refused:
        reply(api, "0" * 32, text("だれ?"))
    assert refused.value.status == 400 and platform.inbox(user_id) == []


# --- pushes and retry keys ------------------------------------------------------------------------------


def test_a_push_retried_with_the_same_key_is_409_and_the_phone_has_one_copy(platform, api, user_id):
    key = str(uuid.uuid4())
    first = push(api, user_id, text("予約を受け付けました"), key=key)
    with pytest.raises(ApiException) as again:
        push(api, user_id, text("予約を受け付けました"), key=key)
    assert again.value.status == 409 and "already accepted" in again.value.body
    assert first.sent_messages[0].id in again.value.body  # LINE says which messages it took the first time
    assert again.value.headers["x-line-accepted-request-id"]
    assert texts(platform, user_id) == ["予約を受け付けました"]
    assert platform.inbox(user_id)[0]["retry_key"] == key


def test_a_retry_key_is_good_for_24_hours(platform, api, user_id, clock):
    key = str(uuid.uuid4())
    push(api, user_id, text("一回目"), key=key)
    clock.advance(hours=24, seconds=1)
    push(api, user_id, text("翌日"), key=key)
    assert texts(platform, user_id) == ["一回目", "翌日"]


def test_a_retry_key_must_be_a_uuid(api, platform, user_id):
    with pytest.raises(ApiException) as refused:
        push(api, user_id, text("x"), key="attempt-1")
    assert refused.value.status == 400 and platform.inbox(user_id) == []


def test_a_push_to_an_unknown_user_is_refused(api):
    with pytest.raises(ApiException) as refused:
        push(api, "U" + "0" * 32, text("x"))
    assert refused.value.status == 400


def test_a_push_to_a_user_who_blocked_is_accepted_but_never_reaches_the_phone(platform, api, user_id):
    platform.unfollow_event(user_id)
    assert push(api, user_id, text("届かない")).sent_messages
    assert platform.inbox(user_id) == []
    [record] = platform.deliveries()
    assert record["delivered"] is False and record["text"] == "届かない"


# --- the platform's limits ------------------------------------------------------------------------------


def quick_reply(n: int) -> dict[str, Any]:
    return {"items": [{"type": "action", "action": {"type": "message", "label": f"{i}", "text": f"{i}"}}
                      for i in range(n)]}


ONE = [{"type": "text", "text": "ok"}]


@pytest.mark.parametrize(("messages", "property_"), [
    ([], "messages"),
    (ONE * 6, "messages"),
    ([{"type": "text", "text": "あ" * 5001}], "messages[0].text"),
    ([{"type": "text", "text": "🍎" * 2501}], "messages[0].text"),  # 5002 UTF-16 code units
    ([{"type": "text", "text": ""}], "messages[0].text"),
    ([{"type": "text", "text": "ok", "quickReply": quick_reply(14)}], "messages[0].quickReply.items"),
    ([{"type": "text", "text": "ok", "quickReply": {"items": [
        {"type": "action", "action": {"type": "message", "label": "あ" * 21, "text": "x"}}]}}],
     "messages[0].quickReply.items[0].action.label"),
    ([{"type": "telepathy"}], "messages[0].type"),
], ids=["none", "six", "5001 chars", "2501 emoji", "empty text", "14 quick replies", "21-char label", "unknown type"])
def test_requests_outside_the_platforms_limits_get_400_and_deliver_nothing(
        server, platform, http, user_id, messages, property_):
    token = platform.text_event(user_id, "x")["replyToken"]
    for path, body in [("push", {"to": user_id, "messages": messages}),
                       ("reply", {"replyToken": token, "messages": messages})]:
        response = http.post(f"{server.url}/v2/bot/message/{path}", json=body,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 400
        assert property_ in [d["property"] for d in response.json()["details"]]
    assert platform.inbox(user_id) == []


def test_the_limits_themselves_are_allowed(server, platform, http, user_id):
    messages = ONE * 3 + [{"type": "text", "text": "🍎" * 2500},
                          {"type": "text", "text": "あ" * 5000, "quickReply": quick_reply(13)}]
    response = http.post(f"{server.url}/v2/bot/message/push", json={"to": user_id, "messages": messages},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and len(response.json()["sentMessages"]) == 5
    assert len(platform.inbox(user_id)[-1]["quick_replies"]) == 13


def test_the_sdk_itself_refuses_six_messages_or_fourteen_quick_replies_before_sending(platform, api, user_id):
    # Worth knowing: these never reach LINE from the SDK; a 5001-character text does (next test).
    with pytest.raises(pydantic.v1.ValidationError):
        PushMessageRequest(to=user_id, messages=[text("x")] * 6)
    with pytest.raises(pydantic.v1.ValidationError):
        text("x", *[str(i) for i in range(14)])
    assert platform.api_calls() == []


def test_a_5001_character_text_from_the_sdk_is_refused_by_the_platform(api, platform, user_id):
    with pytest.raises(ApiException) as refused:
        push(api, user_id, text("あ" * 5001))
    assert refused.value.status == 400 and "messages[0].text" in refused.value.body


def test_a_wrong_access_token_gets_401(server, platform, user_id):
    with pytest.raises(ApiException) as refused:
        push(sdk(server.url, token="not-the-token"), user_id, text("x"))
    assert refused.value.status == 401 and "Authentication failed" in refused.value.body
    assert platform.inbox(user_id) == []


# --- injected failures ----------------------------------------------------------------------------------


def test_failed_calls_deliver_nothing_and_consume_neither_token_nor_retry_key(platform, api, user_id):
    event, key = platform.text_event(user_id, "こんばんは"), str(uuid.uuid4())
    platform.fail_next(2, 500)
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            reply(api, event["replyToken"], text("返信"))
        assert failed.value.status == 500
    assert platform.inbox(user_id) == []
    reply(api, event["replyToken"], text("返信"))
    platform.fail_next(1, 503)
    with pytest.raises(ApiException):
        push(api, user_id, text("プッシュ"), key=key)
    push(api, user_id, text("プッシュ"), key=key)  # 200, not 409: LINE never accepted the failed one
    assert texts(platform, user_id) == ["返信", "プッシュ"]
    assert statuses(platform) == [500, 500, 200, 503, 200]


def test_429_says_too_many_requests(platform, api, user_id):
    platform.fail_next(1, 429)
    with pytest.raises(ApiException) as limited:
        push(api, user_id, text("x"))
    assert limited.value.status == 429 and "Too Many Requests" in limited.value.body
    push(api, user_id, text("x"))
    assert texts(platform, user_id) == ["x"]


def test_a_stalled_call_times_out_on_the_client_yet_line_carries_it_out(platform, api, user_id):
    key = str(uuid.uuid4())
    platform.stall_next(1, 0.5)
    with pytest.raises(urllib3.exceptions.TimeoutError):
        api.push_message(PushMessageRequest(to=user_id, messages=[text("遅れて届く")]), x_line_retry_key=key,
                         _request_timeout=0.1)
    deadline = time.monotonic() + 5
    while not platform.inbox(user_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert texts(platform, user_id) == ["遅れて届く"]
    with pytest.raises(ApiException) as again:  # which is why a retry must reuse the key
        push(api, user_id, text("遅れて届く"), key=key)
    assert again.value.status == 409 and texts(platform, user_id) == ["遅れて届く"]


def test_a_stall_with_a_status_fails_after_the_wait_and_delivers_nothing(platform, api, user_id):
    platform.stall_next(1, 0.05, status=500)
    with pytest.raises(ApiException) as failed:
        push(api, user_id, text("x"))
    assert failed.value.status == 500 and platform.inbox(user_id) == []


def test_cleared_faults_no_longer_fail_calls(platform, api, user_id):
    platform.fail_next(10_000, 503)
    platform.clear_faults()
    push(api, user_id, text("復旧"))
    assert texts(platform, user_id) == ["復旧"]


# --- loading animation and read receipts ----------------------------------------------------------------


def test_the_loading_animation_is_accepted_and_ends_when_a_message_arrives(platform, api, user_id):
    response = api.show_loading_animation_with_http_info(ShowLoadingAnimationRequest(chat_id=user_id,
                                                                                     loading_seconds=10))
    assert response.status_code == 202
    assert platform.users()[0]["loading"] is True
    push(api, user_id, text("お待たせしました"))
    assert platform.users()[0]["loading"] is False


def test_loading_seconds_must_be_a_multiple_of_five(api, user_id):
    with pytest.raises(ApiException) as refused:
        api.show_loading_animation(ShowLoadingAnimationRequest(chat_id=user_id, loading_seconds=7))
    assert refused.value.status == 400


def test_marking_as_read_shows_the_users_messages_as_read(platform, api, user_id):
    first = platform.text_event(user_id, "一")
    platform.text_event(user_id, "二")
    api.mark_messages_as_read_by_token(MarkMessagesAsReadByTokenRequest(
        mark_as_read_token=first["message"]["markAsReadToken"]))
    assert platform.users()[0]["read_by_bot_up_to"] == first["message"]["id"]
    last = platform.text_event(user_id, "三")
    api.mark_messages_as_read(MarkMessagesAsReadRequest(chat=ChatReference(user_id=user_id)))
    assert platform.users()[0]["read_by_bot_up_to"] == last["message"]["id"]


def test_the_user_reading_the_chat_clears_the_unread_count(platform, api, user_id):
    push(api, user_id, text("一"), text("二"))
    assert platform.users()[0]["unread"] == 2 and not platform.inbox(user_id)[0]["read"]
    platform.mark_read_by_user(user_id)
    assert platform.users()[0]["unread"] == 0 and all(m["read"] for m in platform.inbox(user_id))


# --- webhook events -------------------------------------------------------------------------------------


def test_every_event_is_signed_and_shaped_as_line_sends_it(platform):
    user_id = platform.add_user()
    events = [platform.follow_event(user_id), platform.text_event(user_id, "はじめまして"),
              platform.postback_event(user_id, "action=consent"), platform.unfollow_event(user_id),
              platform.follow_event(user_id), platform.sticker_event(user_id)]
    body = platform.body(events)
    signature = platform.sign(body)
    assert SignatureValidator(SECRET).validate(body.decode("utf-8"), signature)
    assert not SignatureValidator("another-secret").validate(body.decode("utf-8"), signature)
    CallbackRequest.from_json(body.decode("utf-8"))  # destination is a bot user ID, every event validates
    follow, message, postback, unfollow, refollow, sticker = WebhookParser(SECRET).parse(body.decode(), signature)
    assert isinstance(follow, FollowEvent) and follow.follow.is_unblocked is False
    assert isinstance(message, MessageEvent) and isinstance(message.message, TextMessageContent)
    assert message.message.text == "はじめまして" and message.message.id.isdigit() and message.message.quote_token
    assert isinstance(postback, PostbackEvent) and postback.postback.data == "action=consent"
    assert isinstance(unfollow, UnfollowEvent) and "replyToken" not in events[3]
    assert isinstance(refollow, FollowEvent) and refollow.follow.is_unblocked is True
    assert isinstance(sticker, MessageEvent) and isinstance(sticker.message, StickerMessageContent)
    assert all(isinstance(Event.from_dict(e), Event) for e in events)
    assert re.fullmatch(r"U[0-9a-f]{32}", user_id)
    for event in events:
        assert event["mode"] == "active" and event["source"] == {"type": "user", "userId": user_id}
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", event["webhookEventId"])
        assert event["deliveryContext"] == {"isRedelivery": False}
        assert event["timestamp"] == int(datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp() * 1000)
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["replyToken"]) for e in events if e["type"] != "unfollow")
    assert len({e["webhookEventId"] for e in events}) == len(events)


def test_a_redelivery_is_the_same_event_marked_as_redelivered(platform, user_id):
    event = platform.text_event(user_id, "届いてますか")
    again = platform.redelivery(event)
    assert again["webhookEventId"] == event["webhookEventId"] and again["message"] == event["message"]
    assert again["deliveryContext"] == {"isRedelivery": True} and event["deliveryContext"]["isRedelivery"] is False
    assert Event.from_dict(again).delivery_context.is_redelivery is True


def receiver(secret: str, received: list[Any]) -> Flask:
    """A minimal bot: checks the signature the way the service does, and keeps what it got."""
    app = Flask(__name__)

    @app.post("/callback")
    def callback() -> tuple[str, int]:
        body = request.get_data(as_text=True)
        if not SignatureValidator(secret).validate(body, request.headers.get("X-Line-Signature", "")):
            return "bad signature", 400
        received.extend(WebhookParser(secret).parse(body, request.headers["X-Line-Signature"]))
        return "OK", 200

    return app


def test_deliver_posts_signed_events_to_the_webhook(platform, user_id):
    received: list[Any] = []
    with EmulatorServer(app=receiver(SECRET, received)) as bot:
        assert platform.deliver([platform.text_event(user_id, "こんにちは")], bot.url + "/callback") == 200
        platform.webhook_url = bot.url + "/callback"
        event = platform.postback(user_id, "action=start")
        impostor = LinePlatform("not-the-secret", TOKEN)
        assert impostor.deliver([impostor.text_event(impostor.add_user(), "x")], bot.url + "/callback") == 400
    assert [type(e) for e in received] == [MessageEvent, PostbackEvent]
    assert received[1].webhook_event_id == event["webhookEventId"]


def test_deliver_can_use_another_transport(platform, user_id):
    sent: list[tuple[str, bytes, dict[str, str]]] = []
    status = platform.deliver([platform.follow_event(user_id)], "http://bot.invalid/callback",
                              poster=lambda url, body, headers: sent.append((url, body, headers)) or 200)
    [(url, body, headers)] = sent
    assert status == 200 and url == "http://bot.invalid/callback"
    assert headers["Content-Type"] == "application/json" and headers["X-Line-Signature"] == platform.sign(body)


# --- mounted in another app, driven through the control routes ------------------------------------------


@pytest.fixture
def service(platform: LinePlatform) -> Iterator[EmulatorServer]:
    """A bot with the emulator mounted under /line-emulator in the same threaded server: its webhook
    handler calls the emulator while the emulator is still waiting for the webhook's answer."""
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(platform), url_prefix="/line-emulator")
    base: dict[str, str] = {}

    @app.post("/callback")
    def callback() -> str:
        body = request.get_data(as_text=True)
        api = sdk(base["url"] + "/line-emulator")
        for event in WebhookParser(SECRET).parse(body, request.headers["X-Line-Signature"]):
            if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                reply(api, event.reply_token, text(f"「{event.message.text}」ですね。", "はい", "いいえ"))
            elif isinstance(event, FollowEvent):
                reply(api, event.reply_token, text("友だち追加ありがとうございます"))
        return "OK"

    with EmulatorServer(app=app) as server:
        base["url"] = server.url
        platform.webhook_url = server.url + "/callback"
        yield server


def test_a_chat_through_the_control_routes_under_a_url_prefix(service, platform, http):
    control = service.url + "/line-emulator/_emulator"
    user_id = http.post(f"{control}/users", json={"display_name": "ひかり"}).json()["id"]
    assert http.post(f"{control}/users/{user_id}/follow").json()["webhook_status"] == 200
    sent = http.post(f"{control}/users/{user_id}/messages", json={"text": "相談したいです"}).json()
    assert sent["event"]["message"]["text"] == "相談したいです"
    inbox = http.get(f"{control}/users/{user_id}/inbox").json()
    assert [m["text"] for m in inbox["messages"]] == ["友だち追加ありがとうございます", "「相談したいです」ですね。"]
    assert inbox["messages"][1]["quick_replies"] == ["はい", "いいえ"] and inbox["next"] == 2
    assert http.get(f"{control}/users/{user_id}/inbox?since=1").json()["messages"][0]["text"].startswith("「")
    [user] = http.get(f"{control}/users").json()["users"]
    assert user["display_name"] == "ひかり" and user["followed"] is True and user["unread"] == 2
    http.post(f"{control}/users/{user_id}/read")
    assert http.get(f"{control}/users").json()["users"][0]["unread"] == 0
    http.post(f"{control}/users/{user_id}/unfollow")
    assert http.get(f"{control}/users").json()["users"][0]["blocked"] is True
    assert [c.path for c in platform.api_calls()] == ["/v2/bot/message/reply"] * 2


def test_faults_set_through_the_control_routes_hit_only_the_messaging_api(service, platform, http, user_id):
    control = service.url + "/line-emulator/_emulator"
    assert http.post(f"{control}/faults", json={"status": 503, "count": 2}).json() == {"pending": 2}
    assert http.get(f"{control}/users").status_code == 200  # control routes are never faulted
    api = sdk(service.url + "/line-emulator")
    with pytest.raises(ApiException) as failed:
        push(api, user_id, text("x"))
    assert failed.value.status == 503
    assert http.delete(f"{control}/faults").json() == {"pending": 0}
    push(api, user_id, text("x"))
    assert texts(platform, user_id) == ["x"]
    assert http.post(f"{control}/faults", json={"stall": 1, "count": 1}).json() == {"pending": 1}
    assert http.post(f"{control}/faults", json={"status": "oops"}).status_code == 400


def test_control_routes_answer_404_for_an_unknown_user(service, http):
    control = service.url + "/line-emulator/_emulator"
    assert http.post(f"{control}/users/U{'0' * 32}/messages", json={"text": "x"}).status_code == 404
    assert http.get(f"{control}/users/U{'0' * 32}/inbox").status_code == 404


def test_reset_forgets_users_messages_and_faults(platform, api, user_id):
    push(api, user_id, text("x"))
    platform.fail_next(5)
    platform.reset()
    assert platform.users() == [] and platform.deliveries() == [] and platform.api_calls() == []
    fresh = platform.add_user()
    push(api, fresh, text("y"))
    assert texts(platform, fresh) == ["y"]
