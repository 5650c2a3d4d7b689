"""Telling a waiting user where they stand (issue 10): position, an honest expected wait, "tell me when
it is my turn", and "the same counselor as last time".

Only for consultations NOT at risk: a person at high or imminent risk was promised priority and never
hears of a queue (flows/lifecycle.py refuses a table whose at-risk states list these commands).

- Position: `storage.consultations.position`, the console queue's own order (storage/fair_order.py).
- Expected wait: the median wait (queued -> claimed) of the last `wait_samples` consultations claimed
  within `wait_lookback` (training and at-risk ones left out); with fewer than `wait_min_samples` the
  bot says it does not know. Never a promise: rounded, and said as a rough guide.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from sqlalchemy.orm import Session

from flows import routing, texts
from flows.routing import RoutingPolicy
from storage import consultations as consultation_repo
from storage import organizations as org_repo
from storage import staff as staff_repo
from storage import waiting as waiting_repo
from storage.models import Consultation, Staff

AT_RISK_RANK = 2


def expected_wait(session: Session, policy: RoutingPolicy, now: datetime) -> timedelta | None:
    waits = waiting_repo.recent_waits(session, since=now - policy.wait_lookback, limit=policy.wait_samples)
    if len(waits) < policy.wait_min_samples:
        return None
    return median(waits)


def describe_wait(wait: timedelta | None) -> str:
    if wait is None:
        return texts.WAIT_UNKNOWN
    minutes = wait.total_seconds() / 60
    if minutes < 5:
        amount = texts.WAIT_FEW_MINUTES
    elif minutes > 60:
        amount = texts.WAIT_OVER_AN_HOUR
    else:
        amount = texts.WAIT_MINUTES.format(minutes=int(5 * round(minutes / 5)))
    return texts.WAIT_ESTIMATE.format(wait=amount)


def where_you_stand(session: Session, policy: RoutingPolicy, c: Consultation, now: datetime) -> str:
    """「いま、あなたの前に2人…」 + the expected wait (or 「わからない」), for someone not at risk."""
    assert c.risk_rank < AT_RISK_RANK, "never tell a person at risk about a queue"
    ahead = consultation_repo.position(session, c, now)
    position = texts.POSITION_NEXT if ahead == 0 else texts.POSITION_AHEAD.format(ahead=ahead)
    if ahead == 0:
        return position
    return position + "\n" + describe_wait(expected_wait(session, policy, now))


def quick_replies(session: Session, policy: RoutingPolicy, c: Consultation, now: datetime, *,
                  offer_same_counselor: bool = False) -> list[str]:
    """The waiting user's buttons: ask the position, ask to be told, and (when it applies) ask for the
    counselor of last time."""
    if c.risk_rank >= AT_RISK_RANK:
        return []
    labels = [texts.POSITION_ASK]
    if c.notify_requested_at is None:
        labels.append(texts.NOTIFY_ASK)
    if offer_same_counselor and c.preferred_staff_id is None and previous_counselor(session, policy, c, now):
        labels.append(texts.SAME_COUNSELOR_ASK)
    return labels


def ask_to_notify(session: Session, c: Consultation, now: datetime) -> str:
    """「順番が来たら知らせて」: one push later when they are next (flows/turns.py), or now if they already are."""
    if c.notify_requested_at is not None:
        return texts.NOTIFY_ALREADY
    c.notify_requested_at = now
    if consultation_repo.position(session, c, now) == 0:
        c.notified_at = now  # they are next already: this reply is the notice
        return texts.NOTIFY_NOW
    return texts.NOTIFY_OK


# --- the same counselor as last time -------------------------------------------------------------------


def previous_counselor(session: Session, policy: RoutingPolicy, c: Consultation, now: datetime) -> Staff | None:
    """The counselor of this client's last answered consultation, if on duty now with room to take one."""
    staff = waiting_repo.last_counselor(session, c.client_id, before_id=c.id)
    if staff is None or not staff.active or not staff.organization.active:
        return None
    if not staff_repo.seen_since(session, staff.id, now - policy.on_duty_within):
        return None
    limit = staff.max_active or policy.counselor_max_active
    if consultation_repo.active_count_for(session, staff.id) >= limit:
        return None
    return staff


def choose_same_counselor(session: Session, policy: RoutingPolicy, c: Consultation, now: datetime) -> str:
    """Route to the counselor of last time when they are on duty and have room; say so either way."""
    staff = previous_counselor(session, policy, c, now)
    if staff is None:
        org_repo.record_decision(session, c.id, routing.SAME_COUNSELOR, "same_counselor_unavailable", now,
                                 organization_id=c.organization_id)
        return texts.SAME_COUNSELOR_UNAVAILABLE
    c.organization_id = staff.organization_id
    c.organization = staff.organization
    c.preferred_staff_id = staff.id
    c.overflow_at = now + policy.overflow_after
    c.overflowed_at = None
    org_repo.record_decision(session, c.id, routing.SAME_COUNSELOR, "same_counselor", now,
                             organization_id=staff.organization_id, staff_id=staff.id)
    return texts.SAME_COUNSELOR_OK
