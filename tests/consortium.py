"""Helpers for the routing tests (issue 10): LINE users who answer the intake, and a look at where a
consultation is. The fixtures (the sample consortium, staff of each member) are in consortium_fixtures.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.models import Consultation

PASSWORD = "correct horse battery"
MONDAY_17 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 17:00 JST, a Monday: the conftest's OPEN_TIME
MONDAY_2030 = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)  # 20:30 JST: the サポステ member (16-20) has gone home


def tokyo(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A moment given in JST, as the aware UTC datetime the clock holds."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Tokyo")).astimezone(UTC)


@dataclass(frozen=True)
class Intake:
    who: str  # the quick-reply labels the user taps
    age: str
    concern: str
    area: str = "札幌市"
    topic: str = "話を聞いてほしいです"


FAMILY_40S_FAMILY = Intake("家族", "40代", "家族関係", topic="40代の息子がずっと部屋にこもっています")
SELF_20S_WORK = Intake("本人", "20代", "仕事・就労", topic="働きたいけど電話がこわいです")


def answer_intake(user: Any, intake: Intake) -> None:
    user.says("こんばんは")
    for label in ("同意して進む", intake.who, intake.age, intake.area, intake.concern):
        user.taps(label)
    user.says(intake.topic)


def latest(app: Any) -> Consultation:
    """The newest consultation, with its organization loaded."""
    with app.extensions["tsunagu"].sessions() as db:
        c = db.scalar(select(Consultation).order_by(Consultation.id.desc()))
        assert c is not None
        _ = c.organization.slug
        db.expunge_all()
        return c


def queue_ids(client: Any, headers: dict[str, str]) -> list[int]:
    return [q["id"] for q in client.get("/api/v1/queue", headers=headers).json["queue"]]
