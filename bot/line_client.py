"""The one place that talks to LINE: the official line-bot-sdk v3 `MessagingApi`.

Results are sorted into what the outbox needs to know: accepted, already accepted (409 on a retry
key), LINE did not take it (retry later), LINE refused it (do not retry), or unknown (a timeout:
LINE may or may not have it).
"""

from __future__ import annotations

import logging
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
            ReplyMessageRequest(reply_token=reply_token, messages=[_message(m) for m in messages]),
            _request_timeout=timeout))

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> SendResult:
        return self._call(lambda: self._api.push_message(
            PushMessageRequest(to=to, messages=[_message(m) for m in messages]),
            x_line_retry_key=retry_key, _request_timeout=self._timeout))

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
        except ValidationError as exc:
            return SendResult(REFUSED, None, f"refused by the SDK's validation: {exc.error_count()} error(s)")
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


def _message(m: dict[str, Any]) -> LineMessage:
    return LineMessage.from_dict(m)


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

