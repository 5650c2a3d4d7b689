"""Consortium routing (issue 10): which member's queue a consultation joins, and why.

Where a consultation enters the queue (flows/consultation.py `_enter_queue`), `route` reads the rules
(the consortium file's `[[route]]`, stored in `routing_rules`): the first rule whose conditions all match
the intake answers (who, age band, area, concern) and the triage topics gives an ordered list of members;
the first of them that is active, takes this person (its `takes`), is staffed now (its evenings) and has
room (its `capacity`) takes the consultation. Otherwise it goes to the shared consortium queue (the
default organization). Either way it overflows to every member after `overflow_after` (OVERFLOW_MINUTES);
at high or imminent risk every counselor sees it at once (storage/visibility.py). Each decision is a
`routing_decisions` row with its reason, shown in the console's chat view.

`decide` is pure (plain values in, a Decision out); `route` and the other steps apply it to a session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from flows import organizations
from storage import consultations as consultation_repo
from storage import organizations as org_repo
from storage.models import Consultation, Organization, Staff

AT_RISK_RANK = 2

# Decision kinds and reason codes (the console's labels are in bot/console/texts.py ROUTING_REASONS).
ROUTED, OVERFLOW, AT_RISK, TRANSFER, SAME_COUNSELOR, TAKEN = (
    "routed", "overflow", "at_risk", "transfer", "same_counselor", "taken")
RULE_MATCHED = "rule_matched"  # the first staffed member with room of the matching rule took it
NONE_AVAILABLE = "none_available"  # a rule matched, none of its members could take it now: shared queue
NO_RULE = "no_rule"  # no rule matched (or none are loaded): shared queue
# A member's outcome while a rule's list is tried.
TAKES_IT, NOT_STAFFED, FULL, INACTIVE, DOES_NOT_TAKE, MISSING = (
    "taken", "not_staffed", "full", "inactive", "does_not_take", "missing")


@dataclass(frozen=True)
class RoutingPolicy:
    overflow_after: timedelta = timedelta(minutes=10)
    tz: ZoneInfo = organizations.DEFAULT_TZ
    counselor_max_active: int = 3
    on_duty_within: timedelta = timedelta(minutes=30)  # a counselor seen in the console this recently is on duty
    wait_samples: int = 20  # the expected wait: median of the last this-many claimed consultations …
    wait_min_samples: int = 5  # … when there are at least this many …
    wait_lookback: timedelta = timedelta(days=14)  # … claimed this recently


@dataclass(frozen=True)
class Answers:
    who: str | None = None
    age_band: str | None = None
    area: str | None = None
    concern: str | None = None
    topics: tuple[str, ...] = ()

    @classmethod
    def of(cls, c: Consultation) -> Answers:
        return cls(c.who, c.age_band, c.area, c.concern, tuple(c.risk_topics or ()))

    def value(self, key: str) -> str | None:
        return getattr(self, organizations.ANSWER_OF[key])


@dataclass(frozen=True)
class Member:
    """What routing needs to know of one member, now."""

    id: int
    slug: str
    active: bool
    takes: Mapping[str, Sequence[str]]
    staffed: bool
    capacity: int | None
    holding: int


@dataclass(frozen=True)
class Decision:
    organization_id: int | None  # None: the shared consortium queue
    reason: str
    rule: str | None = None
    candidates: tuple[dict[str, str], ...] = field(default_factory=tuple)


def rule_matches(when: Mapping[str, Sequence[str]], answers: Answers) -> bool:
    """Every condition must hold; a list matches any of its values; `topics` any topic triage found."""
    for key, values in when.items():
        if not values:
            continue
        if key == "topics":
            if not set(values) & set(answers.topics):
                return False
        elif answers.value(key) not in values:
            return False
    return True


def member_takes(takes: Mapping[str, Sequence[str]], answers: Answers) -> bool:
    return all(not values or answers.value(key) in values for key, values in takes.items() if key != "topics")


def decide(answers: Answers, rules: Sequence[tuple[str, Mapping[str, Sequence[str]], Sequence[str]]],
           members: Mapping[str, Member]) -> Decision:
    """The first matching rule's first member that is active, takes this person, is staffed and has room."""
    for name, when, targets in rules:
        if not rule_matches(when, answers):
            continue
        tried: list[dict[str, str]] = []
        for slug in targets:
            m = members.get(slug)
            outcome = (MISSING if m is None else INACTIVE if not m.active
                       else DOES_NOT_TAKE if not member_takes(m.takes, answers)
                       else NOT_STAFFED if not m.staffed
                       else FULL if m.capacity is not None and m.holding >= m.capacity
                       else TAKES_IT)
            tried.append({"slug": slug, "outcome": outcome})
            if outcome == TAKES_IT:
                assert m is not None
                return Decision(m.id, RULE_MATCHED, name, tuple(tried))
        return Decision(None, NONE_AVAILABLE, name, tuple(tried))
    return Decision(None, NO_RULE)


def _rules(session: Session) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [(r.name, dict(r.match or {}), list(r.targets or [])) for r in org_repo.rules(session)]


def _members(session: Session, slugs: Sequence[str], now: datetime, tz: ZoneInfo,
             *, lock: bool = False) -> dict[str, Member]:
    orgs = org_repo.by_slugs(session, slugs)
    if lock:  # in slug order, so two routings never wait on each other crosswise
        for slug in sorted(orgs):
            org_repo.lock(session, orgs[slug].id)
    held = org_repo.holding(session, [o.id for o in orgs.values()])
    return {slug: Member(o.id, o.slug, bool(o.active), dict(o.takes or {}),
                         organizations.is_staffed(o, now, tz), o.capacity, held[o.id])
            for slug, o in orgs.items()}


def route(session: Session, policy: RoutingPolicy, c: Consultation, now: datetime) -> Decision:
    """Put a consultation that is joining the queue into a member's queue (or the shared one), set its
    overflow deadline, and record why."""
    rules = _rules(session)
    answers = Answers.of(c)
    matching = next((targets for _, when, targets in rules if rule_matches(when, answers)), [])
    members = _members(session, matching, now, policy.tz, lock=True)
    decision = decide(answers, rules, members)
    target = (session.get(Organization, decision.organization_id) if decision.organization_id is not None
              else consultation_repo.ensure_default_organization(session, now))
    assert target is not None
    _place(c, target)
    c.overflow_at = now + policy.overflow_after
    c.overflowed_at = None
    org_repo.record_decision(session, c.id, ROUTED, decision.reason, now, organization_id=target.id,
                             rule=decision.rule, candidates=list(decision.candidates))
    return decision


def _place(c: Consultation, org: Organization) -> None:
    c.organization_id = org.id
    c.organization = org


def record_at_risk(session: Session, c: Consultation, now: datetime) -> None:
    """High or imminent: every counselor on duty sees it from now on (the visibility rule); recorded once
    per rise, so the chat view shows when it went to everyone."""
    org_repo.record_decision(session, c.id, AT_RISK, f"at_risk_{c.risk_level}", now,
                             organization_id=c.organization_id)


def overflow_due(session: Session, now: datetime, limit: int = 200) -> int:
    """Record the overflow of every waiting consultation past its overflow time (each once, claimed by a
    conditional UPDATE). Visibility does not wait for this sweep: it compares `overflow_at` with now."""
    taken = consultation_repo.claim_overflows(session, now, limit)
    for c in taken:
        org_repo.record_decision(session, c.id, OVERFLOW, "overflow_wait", now, organization_id=c.organization_id)
    return len(taken)


def record_taken(session: Session, c: Consultation, staff: Staff, from_org: Organization, now: datetime,
                 *, was_overflowed: bool) -> None:
    """A counselor of another member took a consultation (shared queue, overflow, at risk): it is their
    organization's now; the chat view says from where."""
    if from_org.id == staff.organization_id:
        return
    reason = ("from_shared" if from_org.is_default else "at_risk" if c.risk_rank >= AT_RISK_RANK
              else "from_overflow" if was_overflowed else "from_member")
    org_repo.record_decision(session, c.id, TAKEN, reason, now, organization_id=staff.organization_id,
                             staff_id=staff.id, candidates=[{"slug": from_org.slug, "outcome": "left"}])
