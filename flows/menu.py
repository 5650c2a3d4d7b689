"""The rich menu's four taps (issue 10): what each one is, and the answer the bot gives.

`bot/richmenu.py` draws the menu from `ITEMS` and sets it on LINE (`tsunagu richmenu apply`); a tap
arrives as a postback `menu=<code>` with the label shown as the user's own words (displayText).
相談する is answered in flows/consultation.py (it starts the intake, or says when it can); the others here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from flows import texts
from flows.emergency import lines_text
from flows.hours import ServiceHours

if TYPE_CHECKING:
    from flows.consultation import Outbound, Policy


@dataclass(frozen=True)
class MenuItem:
    code: str  # the postback's `menu=` value
    label: str  # on the image, and shown as the user's tap (displayText)


ITEMS = (
    MenuItem("consult", texts.MENU_CONSULT),
    MenuItem("hours", texts.MENU_HOURS),
    MenuItem("emergency", texts.MENU_EMERGENCY),
    MenuItem("family", texts.MENU_FAMILY),
)


def postback_data(item: MenuItem) -> str:
    return f"menu={item.code}"


def hours_info(hours: ServiceHours, now: datetime) -> str:
    span = hours.open_span(now)
    if span is not None:
        return texts.HOURS_INFO_OPEN.format(hours=hours.label(), closes=f"{span[1]:%H:%M}")
    return texts.HOURS_INFO_CLOSED.format(hours=hours.label(), next_opening=hours.describe_next_opening(now))


def emergency_info(hours: ServiceHours, now: datetime) -> list[str]:
    """119/110 first, then the lines a person can call at this moment (a line whose hours we cannot
    state only while the service itself is open, as in the crisis bubbles)."""
    lines = lines_text(now, hours.tz, texts.EMERGENCY_INFO_HEADING, service_open=hours.is_open(now))
    return [texts.EMERGENCY_INFO_FIRST, lines] if lines else [texts.EMERGENCY_INFO_FIRST]


def answer(policy: Policy, code: str, out: Outbound, now: datetime) -> None:
    """The bot's answer to a tap on 相談できる時間, 緊急の連絡先 or 家族の方へ (anything else: nothing)."""
    if code == "hours":
        out.say(hours_info(policy.hours, now), kind="menu")
    elif code == "emergency":
        for bubble in emergency_info(policy.hours, now):
            out.say(bubble, kind="menu")
    elif code == "family":
        out.say(texts.FAMILY_INFO, kind="menu")
