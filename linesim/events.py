"""Identifiers and webhook event objects shaped exactly as the LINE Platform sends them.

Pure functions: the platform decides who is involved and when; this module only knows the wire format
(https://developers.line.biz/en/reference/messaging-api/#webhook-event-objects).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # ULID's alphabet


def new_user_id() -> str:
    """A LINE user ID: "U" and 32 lowercase hex digits (what `CallbackRequest.destination` also checks)."""
    return "U" + secrets.token_hex(16)


def new_reply_token() -> str:
    return secrets.token_hex(16)


def new_opaque_token() -> str:
    """Quote tokens and mark-as-read tokens are long opaque URL-safe strings."""
    return secrets.token_urlsafe(48)


def new_webhook_event_id(now: datetime) -> str:
    """A ULID: 48-bit millisecond timestamp then 80 random bits, 26 Crockford base32 characters."""
    value = (epoch_ms(now) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def epoch_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def user_event(kind: str, user_id: str, now: datetime, reply_token: str | None, **content: Any) -> dict[str, Any]:
    """One event from a one-to-one chat; `content` is the kind-specific part (message, follow, postback)."""
    event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": epoch_ms(now),
                             "source": {"type": "user", "userId": user_id},
                             "webhookEventId": new_webhook_event_id(now),
                             "deliveryContext": {"isRedelivery": False}}
    if reply_token is not None:  # unfollow (and unsend, leave...) carry no reply token
        event["replyToken"] = reply_token
    event.update(content)
    return event


def message_content(kind: str, message_id: str, mark_as_read_token: str, **fields: Any) -> dict[str, Any]:
    """A message from the user; text and sticker messages always carry a quoteToken (the SDK requires it)."""
    return {"type": kind, "id": message_id, "quoteToken": new_opaque_token(), **fields,
            "markAsReadToken": mark_as_read_token}
