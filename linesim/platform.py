"""The LINE Platform in memory: users and their phones, webhook events, and the Messaging API's rules.

One `LinePlatform` is one channel (secret + access token). Both directions go over real HTTP:
`deliver()` POSTs signed webhook bodies to the bot, and `handle_api()` answers the bot's Messaging
API calls (served by `linesim.api`). All state sits behind one lock; nothing that waits (a
stall, a webhook POST) ever holds it, so the bot may call the API while its webhook is being served.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, NamedTuple

from linesim.events import message_content, new_opaque_token, new_reply_token, new_user_id, user_event
from linesim.messages import QUOTABLE_TYPES, bad_request, phone_view, validate_messages
from linesim.richmenu import RichMenus, validate_menu

Clock = Callable[[], datetime]
Poster = Callable[[str, bytes, dict[str, str]], int]

RETRY_KEY_LIFETIME = timedelta(hours=24)  # "The retry key is valid for 24 hours after the first request"
DEFAULT_LOADING_SECONDS = 20
WEBHOOK_TIMEOUT = 30.0
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
_FAULT_MESSAGES = {429: "Too Many Requests", 500: "Internal server error"}


class UnknownUserError(LookupError):
    """No such user on this platform (a typo in a test, or a user from before `reset()`)."""


class ApiCall(NamedTuple):
    method: str
    path: str  # relative to the API base URL, e.g. "/v2/bot/message/push"
    status: int


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes | None = None  # a binary answer (a rich menu image from the blob host), with its content type
    content_type: str = "application/json"


@dataclass
class _Fault:
    status: int | None  # answer with this status and accept nothing; None: answer normally
    stall: float  # seconds to hang before answering
    remaining: int
    retry_after: int | None = None  # a `Retry-After` header (seconds) on the fault's answer


@dataclass
class _User:
    user_id: str
    display_name: str
    followed: bool = False
    blocked: bool = False
    inbox: list[dict[str, Any]] = field(default_factory=list)  # what reached the phone, oldest first
    read_count: int = 0  # the user has read inbox[:read_count]
    last_sent_id: str | None = None  # the user's own latest message
    read_by_bot_up_to: str | None = None  # shown as 既読 on the user's messages up to this id
    loading_until: datetime | None = None


@dataclass
class _ReplyToken:
    user_id: str
    issued_at: datetime
    used: bool = False


@dataclass(frozen=True)
class _Accepted:
    """A push LINE accepted under a retry key: what a retry with the same key is told (409)."""

    at: datetime
    request_id: str
    sent_messages: list[dict[str, str]]


@dataclass(frozen=True)
class _Request:
    payload: dict[str, Any]
    headers: Mapping[str, str]  # lower-case names
    now: datetime
    request_id: str
    params: tuple[str, ...] = ()  # the path's captured parts (a rich menu ID)
    body: bytes = b""  # the raw body (an image upload)


class LinePlatform:
    def __init__(self, channel_secret: str, channel_access_token: str, *, clock: Clock | None = None,
                 reply_token_ttl: float = 60.0, webhook_url: str | None = None) -> None:
        self.channel_secret = channel_secret
        self.channel_access_token = channel_access_token
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.reply_token_ttl = timedelta(seconds=reply_token_ttl)
        self.webhook_url = webhook_url
        # The bot's own user ID ("destination" in webhook bodies): stable per channel, like LINE's.
        self.bot_user_id = "U" + hashlib.sha256(channel_secret.encode()).hexdigest()[:32]
        self._lock = threading.Lock()
        self._generation = 0  # bumped by reset(): a call that hung across a reset is dropped
        self._routes: list[tuple[str, re.Pattern[str], Callable[[_Request], ApiResponse]]] = [
            ("POST", re.compile(r"/v2/bot/message/reply"), self._reply),
            ("POST", re.compile(r"/v2/bot/message/push"), self._push),
            ("POST", re.compile(r"/v2/bot/chat/loading/start"), self._show_loading),
            ("POST", re.compile(r"/v2/bot/message/markAsRead"), self._mark_as_read),
            ("POST", re.compile(r"/v2/bot/chat/markAsRead"), self._mark_as_read_by_token),
            ("POST", re.compile(r"/v2/bot/(group|room)/([^/]+)/leave"), self._leave),
            # rich menus (linesim/richmenu.py)
            ("POST", re.compile(r"/v2/bot/richmenu"), self._create_rich_menu),
            ("POST", re.compile(r"/v2/bot/richmenu/validate"), self._validate_rich_menu),
            ("GET", re.compile(r"/v2/bot/richmenu/list"), self._list_rich_menus),
            ("GET", re.compile(r"/v2/bot/richmenu/(richmenu-[0-9a-f]+)"), self._get_rich_menu),
            ("DELETE", re.compile(r"/v2/bot/richmenu/(richmenu-[0-9a-f]+)"), self._delete_rich_menu),
            ("POST", re.compile(r"/v2/bot/user/all/richmenu/(richmenu-[0-9a-f]+)"), self._set_default_rich_menu),
            ("GET", re.compile(r"/v2/bot/user/all/richmenu"), self._get_default_rich_menu),
            ("DELETE", re.compile(r"/v2/bot/user/all/richmenu"), self._cancel_default_rich_menu),
        ]
        # The blob host (api-data.line.me): rich menu images; served by the emulator under /blob.
        self._blob_routes: list[tuple[str, re.Pattern[str], Callable[[_Request], ApiResponse]]] = [
            ("POST", re.compile(r"/v2/bot/richmenu/(richmenu-[0-9a-f]+)/content"), self._upload_rich_menu_image),
            ("GET", re.compile(r"/v2/bot/richmenu/(richmenu-[0-9a-f]+)/content"), self._download_rich_menu_image),
        ]
        self._clear_state()

    def _clear_state(self) -> None:
        self._users: dict[str, _User] = {}
        self._reply_tokens: dict[str, _ReplyToken] = {}
        self._read_tokens: dict[str, tuple[str, str]] = {}  # markAsReadToken -> (user id, message id)
        self._retry_keys: dict[str, _Accepted] = {}
        self._deliveries: list[dict[str, Any]] = []
        self._calls: list[ApiCall] = []
        self._faults: deque[_Fault] = deque()
        self._last_message_id = 560_000_000_000_000_000  # LINE message IDs are 18-digit numeric strings
        self._rich = RichMenus()

    def reset(self) -> None:
        """Forget every user, message, token, call and fault (the clock and webhook URL stay)."""
        with self._lock:
            self._clear_state()
            self._generation += 1

    # --- users --------------------------------------------------------------------------------------

    def add_user(self, display_name: str | None = None) -> str:
        with self._lock:
            user_id = new_user_id()
            self._users[user_id] = _User(user_id, display_name or f"ユーザー{len(self._users) + 1}")
            return user_id

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self.clock()
            return [{"id": u.user_id, "display_name": u.display_name, "followed": u.followed, "blocked": u.blocked,
                     "received": len(u.inbox), "unread": len(u.inbox) - u.read_count,
                     "read_by_bot_up_to": u.read_by_bot_up_to,
                     "loading": u.loading_until is not None and now < u.loading_until}
                    for u in self._users.values()]

    def inbox(self, user_id: str, since: int = 0) -> list[dict[str, Any]]:
        """What the user's phone shows from the bot, oldest first; `since` skips the first n."""
        with self._lock:
            user = self._user(user_id)
            return [{**copy.deepcopy(m), "read": m["seq"] < user.read_count} for m in user.inbox[since:]]

    def deliveries(self) -> list[dict[str, Any]]:
        """Every message LINE accepted, in order, with `delivered` False where it never reached a phone."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def mark_read_by_user(self, user_id: str) -> None:
        """The user opened the chat: everything on the phone so far is read."""
        with self._lock:
            user = self._user(user_id)
            user.read_count = len(user.inbox)

    def api_calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    # --- webhook events (building one is the user's action: follow/unfollow change state here) -------

    def text_event(self, user_id: str, text: str) -> dict[str, Any]:
        return self._message_event(user_id, "text", text=text)

    def sticker_event(self, user_id: str, package_id: str = "11537", sticker_id: str = "52002734") -> dict[str, Any]:
        return self._message_event(user_id, "sticker", packageId=package_id, stickerId=sticker_id,
                                   stickerResourceType="STATIC")

    def _message_event(self, user_id: str, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            user, now = self._user(user_id), self.clock()
            message_id = self._next_message_id()
            read_token = new_opaque_token()
            self._read_tokens[read_token] = (user_id, message_id)
            user.last_sent_id = message_id
            return user_event("message", user_id, now, self._issue_reply_token(user_id, now),
                              message=message_content(kind, message_id, read_token, **fields))

    def follow_event(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            user, now = self._user(user_id), self.clock()
            unblocked, user.blocked, user.followed = user.blocked, False, True
            return user_event("follow", user_id, now, self._issue_reply_token(user_id, now),
                              follow={"isUnblocked": unblocked})

    def unfollow_event(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            user, now = self._user(user_id), self.clock()
            user.blocked, user.followed = True, False
            return user_event("unfollow", user_id, now, None)

    def postback_event(self, user_id: str, data: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            self._user(user_id)
            now = self.clock()
            postback: dict[str, Any] = {"data": data}
            if params:
                postback["params"] = params
            return user_event("postback", user_id, now, self._issue_reply_token(user_id, now), postback=postback)

    @staticmethod
    def redelivery(event: dict[str, Any]) -> dict[str, Any]:
        """The same event sent again (same webhookEventId), as LINE does when redelivery is on."""
        again = copy.deepcopy(event)
        again["deliveryContext"] = {"isRedelivery": True}
        return again

    def body(self, events: list[dict[str, Any]]) -> bytes:
        return json.dumps({"destination": self.bot_user_id, "events": events}, ensure_ascii=False).encode("utf-8")

    def sign(self, body: bytes) -> str:
        """X-Line-Signature: base64 HMAC-SHA256 of the raw body, keyed with the channel secret."""
        digest = hmac.new(self.channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def deliver(self, events: list[dict[str, Any]], url: str | None = None, *, poster: Poster | None = None) -> int:
        """POST the signed body to the webhook URL; returns the bot's HTTP status."""
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL: pass url= or set webhook_url")
        body = self.body(events)
        headers = {"Content-Type": "application/json", "X-Line-Signature": self.sign(body),
                   "User-Agent": "LineBotWebhook/2.0"}
        return (poster or _post)(target, body, headers)

    def send_text(self, user_id: str, text: str) -> dict[str, Any]:
        return self._send(self.text_event(user_id, text))

    def follow(self, user_id: str) -> dict[str, Any]:
        return self._send(self.follow_event(user_id))

    def unfollow(self, user_id: str) -> dict[str, Any]:
        return self._send(self.unfollow_event(user_id))

    def postback(self, user_id: str, data: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send(self.postback_event(user_id, data, params))

    def _send(self, event: dict[str, Any]) -> dict[str, Any]:
        self.deliver([event])
        return event

    # --- failure injection (Messaging API calls only) -------------------------------------------------

    def fail_next(self, count: int, status: int = 500, *, retry_after: int | None = None) -> None:
        """The next `count` API calls get `status` and LINE accepts nothing from them; `retry_after`
        adds a `Retry-After: <seconds>` header (what a rate limiter in front of an API may send)."""
        self._add_fault(_Fault(status, 0.0, count, retry_after))

    def stall_next(self, count: int, seconds: float, status: int | None = None) -> None:
        """The next `count` API calls hang for `seconds` first. Then, like LINE, they are carried out even if
        the client has given up (which is what retry keys are for), unless `status` says they fail."""
        self._add_fault(_Fault(status, seconds, count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        head = self._faults[0]
        head.remaining -= 1
        if head.remaining == 0:
            self._faults.popleft()
        return _Fault(head.status, head.stall, 1, head.retry_after)

    # --- the Messaging API ----------------------------------------------------------------------------

    def handle_api(self, method: str, path: str, headers: Mapping[str, str], body: bytes, *,
                   blob: bool = False) -> ApiResponse:
        """Answer one Messaging API request as api.line.me (or, `blob`, api-data.line.me) would. `path` is
        relative to the API base URL."""
        with self._lock:
            generation = self._generation
            fault = self._take_fault()
        if fault is not None and fault.stall > 0:
            time.sleep(fault.stall)  # without the lock: other calls go on while this one hangs
        with self._lock:
            if generation != self._generation:  # reset() while it hung: it belongs to a finished test
                return _answer(503, {"message": "The emulator was reset"})
            if fault is not None and fault.status is not None:
                extra = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else None
                response = _answer(fault.status, {"message": _fault_message(fault.status)}, None, extra)
            else:
                response = self._dispatch(method.upper(), path, {k.lower(): v for k, v in headers.items()}, body,
                                          self._blob_routes if blob else self._routes)
            self._calls.append(ApiCall(method.upper(), path, response.status))
            return response

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes,
                  routes: list[tuple[str, re.Pattern[str], Callable[[_Request], ApiResponse]]]) -> ApiResponse:
        if headers.get("authorization") != f"Bearer {self.channel_access_token}":
            return _answer(401, {"message": _AUTH_FAILED})
        found = next(((h, match) for m, p, h in routes if m == method and (match := p.fullmatch(path))), None)
        if found is None:
            return _answer(404, {"message": "Not found"})
        handler, match = found
        if routes is self._blob_routes:  # images, not JSON
            return handler(_Request({}, headers, self.clock(), str(uuid.uuid4()), match.groups(), body))
        try:
            payload = json.loads(body) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _answer(400, {"message": "The request body could not be parsed as JSON"})
        if not isinstance(payload, dict):
            return _answer(400, {"message": "The request body must be a JSON object"})
        return handler(_Request(payload, headers, self.clock(), str(uuid.uuid4()), match.groups()))

    def _reply(self, req: _Request) -> ApiResponse:
        if "x-line-retry-key" in req.headers:
            return _answer(400, {"message": "The X-Line-Retry-Key header is not supported by this endpoint"})
        problems = validate_messages(req.payload.get("messages"))
        if problems:  # a refused request leaves the token usable
            return _answer(400, bad_request(problems))
        token_value = req.payload.get("replyToken")
        token = self._reply_tokens.get(token_value) if isinstance(token_value, str) else None
        if token is None or token.used or req.now - token.issued_at > self.reply_token_ttl:
            return _answer(400, {"message": "Invalid reply token"})
        token.used = True
        sent = self._accept(self._users[token.user_id], req.payload["messages"], "reply", None, req)
        return _answer(200, {"sentMessages": sent}, req.request_id)

    def _push(self, req: _Request) -> ApiResponse:
        key = req.headers.get("x-line-retry-key")
        if key is not None and not _UUID.fullmatch(key):
            return _answer(400, {"message": "The value of the X-Line-Retry-Key header is invalid"})
        earlier = self._retry_keys.get(key) if key is not None else None
        if earlier is not None and req.now - earlier.at <= RETRY_KEY_LIFETIME:
            return _answer(409, {"message": "The retry key is already accepted",
                                 "sentMessages": copy.deepcopy(earlier.sent_messages)},
                           req.request_id, {"x-line-accepted-request-id": earlier.request_id})
        user = self._find_user(req.payload.get("to"))
        if user is None:
            return _answer(400, {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"})
        problems = validate_messages(req.payload.get("messages"))
        if problems:
            return _answer(400, bad_request(problems))
        sent = self._accept(user, req.payload["messages"], "push", key, req)
        if key is not None:
            self._retry_keys[key] = _Accepted(req.now, req.request_id, sent)
        return _answer(200, {"sentMessages": sent}, req.request_id)

    def _show_loading(self, req: _Request) -> ApiResponse:
        user = self._find_user(req.payload.get("chatId"))
        if user is None:
            return _answer(400, {"message": "The property, 'chatId', in the request body is invalid"})
        seconds = req.payload.get("loadingSeconds", DEFAULT_LOADING_SECONDS)
        if type(seconds) is not int or not 5 <= seconds <= 60 or seconds % 5:
            return _answer(400, bad_request([{"message": "Must be a multiple of 5 between 5 and 60",
                                              "property": "loadingSeconds"}]))
        user.loading_until = req.now + timedelta(seconds=seconds)  # until then, or until a message arrives
        return _answer(202, {}, req.request_id)

    def _mark_as_read(self, req: _Request) -> ApiResponse:
        chat = req.payload.get("chat")
        user = self._find_user(chat.get("userId") if isinstance(chat, dict) else None)
        if user is None:
            return _answer(400, {"message": "The property, 'chat.userId', in the request body is invalid"})
        user.read_by_bot_up_to = user.last_sent_id
        return _answer(200, {}, req.request_id)

    def _mark_as_read_by_token(self, req: _Request) -> ApiResponse:
        token = req.payload.get("markAsReadToken")
        found = self._read_tokens.get(token) if isinstance(token, str) else None
        if found is None:
            return _answer(400, {"message": "Invalid markAsReadToken"})
        user = self._users[found[0]]
        if user.read_by_bot_up_to is None or int(found[1]) > int(user.read_by_bot_up_to):
            user.read_by_bot_up_to = found[1]
        return _answer(200, {}, req.request_id)

    def _leave(self, req: _Request) -> ApiResponse:
        return _answer(200, {}, req.request_id)

    # --- rich menus ------------------------------------------------------------------------------------

    def _create_rich_menu(self, req: _Request) -> ApiResponse:
        status, body = self._rich.create(req.payload)
        return _answer(status, body, req.request_id)

    def _validate_rich_menu(self, req: _Request) -> ApiResponse:
        problems = validate_menu(req.payload)
        return _answer(400, bad_request(problems), req.request_id) if problems else _answer(200, {}, req.request_id)

    def _list_rich_menus(self, req: _Request) -> ApiResponse:
        return _answer(200, {"richmenus": copy.deepcopy(list(self._rich.menus.values()))}, req.request_id)

    def _get_rich_menu(self, req: _Request) -> ApiResponse:
        menu = self._rich.menus.get(req.params[0])
        return _answer(200, copy.deepcopy(menu), req.request_id) if menu else _answer(404, {"message": "Not found"})

    def _delete_rich_menu(self, req: _Request) -> ApiResponse:
        return _answer(*self._rich.delete(req.params[0]), req.request_id)

    def _set_default_rich_menu(self, req: _Request) -> ApiResponse:
        return _answer(*self._rich.set_default(req.params[0]), req.request_id)

    def _get_default_rich_menu(self, req: _Request) -> ApiResponse:
        if self._rich.default is None:
            return _answer(404, {"message": "no default richmenu"}, req.request_id)
        return _answer(200, {"richMenuId": self._rich.default}, req.request_id)

    def _cancel_default_rich_menu(self, req: _Request) -> ApiResponse:
        self._rich.default = None
        return _answer(200, {}, req.request_id)

    def _upload_rich_menu_image(self, req: _Request) -> ApiResponse:
        status, body = self._rich.upload(req.params[0], req.headers.get("content-type", ""), req.body)
        return _answer(status, body, req.request_id)

    def _download_rich_menu_image(self, req: _Request) -> ApiResponse:
        found = self._rich.images.get(req.params[0])
        if found is None:
            return _answer(404, {"message": "Not found"}, req.request_id)
        content_type, image = found
        return ApiResponse(200, {}, {"x-line-request-id": req.request_id}, image, content_type)

    def rich_menus(self) -> dict[str, Any]:
        """What the channel has: every menu object, which ones have an image, and the default."""
        with self._lock:
            return {"menus": copy.deepcopy(list(self._rich.menus.values())), "with_image": sorted(self._rich.images),
                    "default": self._rich.default}

    def rich_menu_image(self, menu_id: str) -> tuple[str, bytes] | None:
        with self._lock:
            return self._rich.images.get(menu_id)

    def _accept(self, user: _User, messages: list[dict[str, Any]], via: str, retry_key: str | None,
                req: _Request) -> list[dict[str, str]]:
        """LINE took the messages: they reach the phone unless the user blocked the account."""
        delivered = not user.blocked
        sent = []
        for message in messages:
            message_id = self._next_message_id()
            record = {"seq": len(user.inbox) if delivered else None, "id": message_id, **phone_view(message),
                      "via": via, "retry_key": retry_key, "request_id": req.request_id,
                      "at": req.now.isoformat(), "message": copy.deepcopy(message)}
            self._deliveries.append({"user_id": user.user_id, "delivered": delivered, **record})
            if delivered:
                user.inbox.append(record)
            sent.append({"id": message_id, **({"quoteToken": new_opaque_token()}
                                              if message["type"] in QUOTABLE_TYPES else {})})
        if delivered:
            user.loading_until = None  # a message arriving ends the loading animation
        return sent

    # --- helpers (call with the lock held) --------------------------------------------------------------

    def _user(self, user_id: str) -> _User:
        try:
            return self._users[user_id]
        except KeyError:
            raise UnknownUserError(user_id) from None

    def _find_user(self, user_id: Any) -> _User | None:
        return self._users.get(user_id) if isinstance(user_id, str) else None

    def _issue_reply_token(self, user_id: str, now: datetime) -> str:
        token = new_reply_token()
        self._reply_tokens[token] = _ReplyToken(user_id, now)
        return token

    def _next_message_id(self) -> str:
        self._last_message_id += 1
        return str(self._last_message_id)


def _fault_message(status: int) -> str:
    try:
        return _FAULT_MESSAGES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _answer(status: int, body: dict[str, Any], request_id: str | None = None,
            headers: dict[str, str] | None = None) -> ApiResponse:
    # Every answer from api.line.me carries a request ID, errors included.
    return ApiResponse(status, body, {"x-line-request-id": request_id or str(uuid.uuid4()), **(headers or {})})


# Never through a proxy from the environment: the webhook is local to the emulator's world.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=WEBHOOK_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
