"""The Messaging API's rules for message objects, and what a phone shows for each one.

Errors come back as LINE's `details` entries (`{"message": ..., "property": ...}`), so a 400 from the
emulator reads like a 400 from api.line.me.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_MESSAGES = 5
MAX_TEXT_CHARS = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_ACTION_LABEL_CHARS = 20
MAX_ACTION_TEXT_CHARS = 300  # a message action's text, and a postback action's data
MAX_ALT_TEXT_CHARS = 1500
MESSAGE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap",
                           "template", "flex", "coupon"})
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})  # sentMessages carry a quoteToken

Detail = dict[str, str]


def validate_messages(messages: Any) -> list[Detail]:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [_detail(f"Size must be between 1 and {MAX_MESSAGES}", "messages")]
    problems: list[Detail] = []
    for i, message in enumerate(messages):
        problems.extend(_validate_message(message, f"messages[{i}]"))
    return problems


def _validate_message(message: Any, where: str) -> list[Detail]:
    if not isinstance(message, dict):
        return [_detail("Must be an object", where)]
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return [_detail("Invalid message type", f"{where}.type")]
    problems: list[Detail] = []
    if kind in ("text", "textV2"):
        problems += _check_length(message.get("text"), 1, MAX_TEXT_CHARS, f"{where}.text", _utf16_units)
    if kind in ("template", "flex", "imagemap"):
        problems += _check_length(message.get("altText"), 1, MAX_ALT_TEXT_CHARS, f"{where}.altText", _utf16_units)
    if "quickReply" in message:
        problems += _validate_quick_reply(message["quickReply"], f"{where}.quickReply")
    return problems


def _validate_quick_reply(quick_reply: Any, where: str) -> list[Detail]:
    items = quick_reply.get("items") if isinstance(quick_reply, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
        return [_detail(f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}", f"{where}.items")]
    problems: list[Detail] = []
    for i, item in enumerate(items):
        action = item.get("action") if isinstance(item, dict) else None
        at = f"{where}.items[{i}].action"
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            problems.append(_detail("must be specified", at))
            continue
        if action["type"] not in ("camera", "cameraRoll", "location"):  # those have default labels
            problems += _check_length(action.get("label"), 1, MAX_ACTION_LABEL_CHARS, f"{at}.label")
        if action["type"] == "message":
            problems += _check_length(action.get("text"), 1, MAX_ACTION_TEXT_CHARS, f"{at}.text")
        if action["type"] == "postback":
            problems += _check_length(action.get("data"), 1, MAX_ACTION_TEXT_CHARS, f"{at}.data")
    return problems


def _utf16_units(value: str) -> int:
    # LINE counts message text in UTF-16 code units: 🍎 is 2 characters, あ is 1.
    return len(value.encode("utf-16-le")) // 2


def _check_length(value: Any, low: int, high: int, where: str, length: Callable[[str], int] = len) -> list[Detail]:
    # Action labels and texts are counted in grapheme clusters; code points (len) are a close, slightly
    # stricter stand-in (a ZWJ emoji sequence is one grapheme but several code points).
    if not isinstance(value, str):
        return [_detail("must be specified", where)]
    if not low <= length(value) <= high:
        return [_detail(f"Length must be between {low} and {high}", where)]
    return []


def _detail(message: str, prop: str) -> Detail:
    return {"message": message, "property": prop}


def bad_request(problems: list[Detail]) -> dict[str, Any]:
    return {"message": f"The request body has {len(problems)} error(s)", "details": problems}


def phone_view(message: dict[str, Any]) -> dict[str, Any]:
    """What the chat screen shows: the text (or alt text) and the quick-reply buttons under it."""
    view: dict[str, Any] = {"type": message["type"]}
    if "text" in message:
        view["text"] = message["text"]
    if "altText" in message:
        view["alt_text"] = message["altText"]
    items = (message.get("quickReply") or {}).get("items")
    # None (not []) when there are no buttons, so "the last message that offered choices" is easy to find.
    view["quick_replies"] = [i["action"].get("label", i["action"]["type"]) for i in items] if items else None
    view["quick_reply_items"] = items or None
    return view
