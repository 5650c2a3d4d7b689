"""「順番が来たら知らせて」: one push when a waiting user who asked becomes the next to be answered.

Run after every claim (flows/handoff.py), after a transfer, and as a scheduled sweep (`notify_turns` in
bot/jobs.py) for what changes the queue otherwise (a user leaving, an overflow). Each notice is taken by a
conditional UPDATE on `notified_at` first, so two runs at once push it once. Never for a person at risk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from flows import texts
from flows.consultation import Outbound
from storage import consultations as consultation_repo
from storage import waiting as waiting_repo


def notify_turns(session: Session, now: datetime, limit: int = 200) -> int:
    """Push 「次にお返事する番になりました」 to each user who asked and is next now. Returns how many."""
    count = 0
    for c in waiting_repo.turn_notice_candidates(session, limit):
        if consultation_repo.position(session, c, now) != 0:
            continue
        if not waiting_repo.take_turn_notice(session, c.id, now):
            continue
        c.notified_at = now  # what the UPDATE wrote, so this session agrees
        out = Outbound(c.client, now, consultation=c)
        out.say(texts.TURN_NEXT, kind="turn")
        out.flush(session)
        count += 1
    return count
