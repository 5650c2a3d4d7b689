"""The webhook's raw input, made safe before anything is stored: size capped before reading, the
signature checked on the raw bytes (line-bot-sdk's validator), nesting capped before parsing, and each
event checked on its own, so one malformed event never drops the valid events sent with it.

Strings are sanitized for PostgreSQL (NUL, other control characters and lone surrogates become
U+FFFD; tab and newlines stay); NaN and infinities become null (PostgreSQL's JSON has neither).
Logs name event positions and types only, never a user's words or IDs.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Request, abort
from linebot.v3 import SignatureValidator

from bot.security import clean_text, loads_bounded

log = logging.getLogger(__name__)
MAX_EVENTS = 500
_ID_FIELDS = ("userId", "groupId", "roomId")


def read_events(request: Request, channel_secret: str, max_bytes: int) -> list[dict[str, Any]]:
    """The body's events, each cleaned; aborts with 413 (too large) or 400 (unsigned, not a webhook body)."""
    if request.content_length is not None and request.content_length > max_bytes:
        abort(413)
    # Read what Content-Length announces (+1, to catch a longer body): `read(n)` allocates and zeroes n
    # bytes first, and n = the 1 MB cap cost every webhook a megabyte's memset (perf: 2% of the CPU).
    size = request.content_length + 1 if request.content_length is not None else max_bytes + 1
    raw = request.stream.read(size)
    if len(raw) > max_bytes:
        abort(413)
    if not valid_signature(raw, request.headers.get("X-Line-Signature", ""), channel_secret):
        log.warning("webhook: missing or invalid signature")
        abort(400, "invalid signature")
    try:
        payload = loads_bounded(raw)
    except ValueError:
        abort(400, "malformed JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
        abort(400, "not a webhook body")
    events = []
    for position, event in enumerate(payload.get("events", [])[:MAX_EVENTS]):
        cleaned, problem = clean_event(event)
        if cleaned is None:
            log.warning("webhook: event %d not usable (%s); the others go on", position, problem)
        else:
            events.append(cleaned)
    return events


def valid_signature(raw: bytes, signature: Any, channel_secret: str) -> bool:
    # The SDK compares with hmac.compare_digest, which raises TypeError on non-ASCII text: check first.
    if not isinstance(signature, str) or not signature or len(signature) > 128 or not signature.isascii():
        return False
    return SignatureValidator(channel_secret).validate(raw.decode("utf-8", errors="replace"), signature)


def clean_event(event: Any) -> tuple[dict[str, Any] | None, str]:
    """(the event, made safe to store) or (None, why it cannot be used)."""
    if not isinstance(event, dict):
        return None, "not an object"
    event = _clean(event)
    kind = event.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 32:
        return None, "no type"
    source = event.get("source")
    if source is not None:
        if not isinstance(source, dict) or not isinstance(source.get("type", ""), str):
            return None, f"{kind}: source is not an object"
        if any(k in source and not isinstance(source[k], str) for k in _ID_FIELDS):
            return None, f"{kind}: source id is not a string"
    key = event.get("webhookEventId")
    if key is not None and not (isinstance(key, str) and key):
        del event["webhookEventId"]  # dedup falls back to a digest of the event
    context = event.get("deliveryContext")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("isRedelivery", False), bool)):
        event["deliveryContext"] = {"isRedelivery": False}  # inessential: repaired, not a reason to drop
    if "mode" in event and not isinstance(event["mode"], str):
        event["mode"] = "active"
    return event, ""


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
