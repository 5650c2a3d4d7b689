"""The one place that talks to LINE: the official line-bot-sdk v3 `MessagingApi`.

Results are sorted into what the outbox needs to know: accepted, already accepted (409 on a retry
key), LINE did not take it (retry later), LINE refused it (do not retry), or unknown (a timeout:
LINE may or may not have it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ChatReference,
    Configuration,
    MarkMessagesAsReadByTokenRequest,
    MarkMessagesAsReadRequest,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
)
from linebot.v3.messaging.models.message import Message as LineMessage
from pydantic import ValidationError
from pydantic.v1 import PrivateAttr
from pydantic.v1 import ValidationError as ModelValidationError

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
ALREADY_ACCEPTED = "already_accepted"  # 409: a push with this retry key went through before
RETRY = "retry"  # 429, 5xx, 401/403 (a config problem an operator will fix): try again later
REFUSED = "refused"  # 400 and other client errors: the request will never pass
UNKNOWN = "unknown"  # timeout or connection dropped mid-request: may have been delivered
INVALID_REPLY_TOKEN = "invalid_reply_token"


@dataclass(frozen=True)
class SendResult:
    outcome: str
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds LINE asked us to wait (429/503 `Retry-After`)


class LineGateway:
    def __init__(self, base_url: str, access_token: str, *, timeout: tuple[float, float] = (3.0, 10.0),
                 pool_size: int = 16) -> None:
        config = Configuration(host=base_url.rstrip("/"), access_token=access_token)
        # The outbox owns retries: urllib3 retrying a POST on its own could deliver twice.
        config.retries = False
        # One ApiClient (one urllib3 pool) for the process; the sender's threads share its keep-alive
        # connections, so the pool is as large as the number of concurrent sends.
        config.connection_pool_maxsize = pool_size
        self._client = ApiClient(config)
        self._api = MessagingApi(self._client)
        self._timeout = timeout
        self._prepared = PreparedMessages()

    def close(self) -> None:
        self._client.close()

    # Requests are built inside `_call`: the SDK validates them (pydantic) before sending, and a
    # message it refuses must become a REFUSED outcome, not an exception in the sender.
    @property
    def read_timeout(self) -> float:
        return self._timeout[1]

    def reply(self, reply_token: str, messages: list[dict[str, Any]], *, read_timeout: float | None = None
              ) -> SendResult:
        timeout = self._timeout if read_timeout is None else (self._timeout[0], min(self._timeout[1], read_timeout))
        return self._call(lambda: self._api.reply_message(
            _Reply.of(self._prepared(messages), reply_token=reply_token), _request_timeout=timeout))

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> SendResult:
        return self._call(lambda: self._api.push_message(
            _Push.of(self._prepared(messages), to=to), x_line_retry_key=retry_key, _request_timeout=self._timeout))

    def show_loading(self, user_id: str, seconds: int = 20) -> SendResult:
        return self._call(lambda: self._api.show_loading_animation(
            ShowLoadingAnimationRequest(chat_id=user_id, loading_seconds=seconds), _request_timeout=self._timeout))

    def mark_read(self, mark_as_read_token: str) -> SendResult:
        """The user's messages up to the one this token came with show as read (any channel)."""
        return self._call(lambda: self._api.mark_messages_as_read_by_token(
            MarkMessagesAsReadByTokenRequest(mark_as_read_token=mark_as_read_token), _request_timeout=self._timeout))

    def mark_read_by_user(self, user_id: str) -> SendResult:
        """All of the user's messages show as read (only channels LINE has allowed to use this)."""
        return self._call(lambda: self._api.mark_messages_as_read(
            MarkMessagesAsReadRequest(chat=ChatReference(user_id=user_id)), _request_timeout=self._timeout))

    def leave(self, source_type: str, source_id: str) -> SendResult:
        if source_type == "group":
            return self._call(lambda: self._api.leave_group(source_id, _request_timeout=self._timeout))
        return self._call(lambda: self._api.leave_room(source_id, _request_timeout=self._timeout))

    def _call(self, fn: Any) -> SendResult:
        try:
            fn()
            return SendResult(ACCEPTED, 200)
        except ApiException as exc:
            status = exc.status or 0
            body = (exc.body or "")[:200] if isinstance(exc.body, str) else ""
            if status == 0:  # the SDK's wrapper for TLS failures: LINE never answered
                return SendResult(RETRY, None, exc.reason or "connection")
            if status == 409:
                return SendResult(ALREADY_ACCEPTED, status)
            if status == 400 and "reply token" in body.lower():
                return SendResult(INVALID_REPLY_TOKEN, status, "invalid reply token")
            if status == 429 or status >= 500 or status in (401, 403):
                return SendResult(RETRY, status, f"HTTP {status}", retry_after(exc.headers))
            return SendResult(REFUSED, status, f"HTTP {status}: {body}")
        except MessageRefused as exc:
            return SendResult(REFUSED, None, f"refused by the SDK: {exc}")
        except (ValidationError, ModelValidationError) as exc:
            # The SDK's models are pydantic.v1 ones: their error is not pydantic's own ValidationError.
            count = exc.error_count() if isinstance(exc, ValidationError) else len(exc.errors())
            return SendResult(REFUSED, None, f"refused by the SDK's validation: {count} error(s)")
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError,
                urllib3.exceptions.ReadTimeoutError) as exc:
            return SendResult(UNKNOWN, None, type(exc).__name__)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.MaxRetryError,
                urllib3.exceptions.HTTPError, ConnectionError) as exc:
            # Could not connect at all: LINE never saw the request.
            if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(
                    exc.reason, urllib3.exceptions.ReadTimeoutError):
                return SendResult(UNKNOWN, None, "ReadTimeoutError")
            return SendResult(RETRY, None, type(exc).__name__)


class MessageRefused(Exception):
    """The SDK cannot build this message: LINE would refuse it (the reason holds no message text)."""


class PreparedMessages:
    """Messages the SDK has validated and serialized once, kept for the next send of the same message.

    The bot's prompts are the same for every user (a burst of first messages gets one greeting), and
    the SDK's model round trip (`Message.from_dict`, then `to_dict` again to send) was 40% of a reply's
    CPU (0.86 -> 0.50 ms CPU per reply with them kept, replies to the bench's stand-in LINE API).
    A message the SDK refuses is never kept: it fails again on every send, as before. In memory only,
    never written anywhere, and cleared whole when full or an hour after it was last cleared: a
    counselor's reply is not kept past that (the bot's prompts are simply built again)."""

    MAX = 256
    MAX_AGE = 3600.0  # seconds

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: dict[str, tuple[LineMessage, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._since = clock()

    def __call__(self, messages: list[dict[str, Any]]) -> list[tuple[LineMessage, dict[str, Any]]]:
        return [self._one(m) for m in messages]

    def _one(self, m: dict[str, Any]) -> tuple[LineMessage, dict[str, Any]]:
        if self._clock() - self._since > self.MAX_AGE:
            with self._lock:
                self._kept.clear()
                self._since = self._clock()
        key = json.dumps(m, sort_keys=True, ensure_ascii=False)
        kept = self._kept.get(key)
        if kept is None:
            try:
                model = LineMessage.from_dict(m)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                # A validation error, or an unknown type (a ValueError quoting the message: never logged).
                raise MessageRefused(type(exc).__name__) from None
            kept = (model, model.to_dict())
            with self._lock:
                if len(self._kept) >= self.MAX:
                    self._kept.clear()
                self._kept[key] = kept
        return kept


class _Wired:
    """A request whose messages are already serialized: `to_dict` (what the SDK's ApiClient sends)
    puts them in as they are instead of serializing each model again. Everything else about the
    request, and its validation (1 to 5 messages, the token's type), is the SDK's own."""

    @classmethod
    def of(cls, prepared: list[tuple[LineMessage, dict[str, Any]]], **fields: Any) -> Any:
        request = cls(messages=[model for model, _ in prepared], **fields)  # type: ignore[call-arg]
        request._wire = [wire for _, wire in prepared]
        return request

    def to_dict(self) -> dict[str, Any]:
        out = self.dict(by_alias=True, exclude={"messages"}, exclude_none=True)  # type: ignore[attr-defined]
        out["messages"] = self._wire
        return out


class _Reply(_Wired, ReplyMessageRequest):
    _wire: list = PrivateAttr(default_factory=list)


class _Push(_Wired, PushMessageRequest):
    _wire: list = PrivateAttr(default_factory=list)


MAX_RETRY_AFTER = 3600.0  # a header asking for more than an hour is capped; the row's give-up still applies


def retry_after(headers: Any, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or None without one."""
    if not headers:
        return None
    value = None
    for name, v in (headers.items() if hasattr(headers, "items") else headers):
        if str(name).lower() == "retry-after":
            value = str(v).strip()
            break
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)

