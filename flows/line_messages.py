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


def referral_card(*, alt_text: str, name: str, sections: Sequence[tuple[str, str]], link: tuple[str, str] | None = None
                  ) -> dict[str, Any]:
    """A Flex bubble for a referral (issue 10): the destination's name, then labelled sections (what it is,
    how to contact it, its hours), and a link button when it has an https address."""
    def section(label: str, value: str) -> dict[str, Any]:
        return {"type": "box", "layout": "vertical", "spacing": "xs", "contents": [
            {"type": "text", "text": label, "size": "xs", "color": "#888888"},
            {"type": "text", "text": value, "size": "sm", "wrap": True},
        ]}

    bubble: dict[str, Any] = {
        "type": "bubble",
        "header": {"type": "box", "layout": "vertical", "contents": [
            {"type": "text", "text": name, "weight": "bold", "size": "lg", "wrap": True}]},
        "body": {"type": "box", "layout": "vertical", "spacing": "md",
                 "contents": [section(label, value) for label, value in sections if value]},
    }
    if link is not None:
        label, uri = link
        bubble["footer"] = {"type": "box", "layout": "vertical", "contents": [
            {"type": "button", "style": "link", "action": {"type": "uri", "label": label, "uri": uri}}]}
    return {"type": "flex", "altText": alt_text[:400], "contents": bubble}
