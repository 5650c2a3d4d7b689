"""LINE message objects as plain dicts (what the outbox stores and the SDK later validates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def text_message(text: str, quick_replies: Sequence[str] = ()) -> dict[str, Any]:
    """A text bubble; each quick reply sends its own label, so typing the label works the same."""
    msg: dict[str, Any] = {"type": "text", "text": text}
    if quick_replies:
        msg["quickReply"] = {"items": [
            {"type": "action", "action": {"type": "message", "label": label, "text": label}}
            for label in quick_replies
        ]}
    return msg


def postback_quick_replies(text: str, items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A text bubble whose quick replies send postbacks (label, data): answers that are not chat."""
    return {"type": "text", "text": text, "quickReply": {"items": [
        {"type": "action", "action": {"type": "postback", "label": label, "data": data, "displayText": label}}
        for label, data in items
    ]}}
