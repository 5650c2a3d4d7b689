"""What happens when a user writes, follows, blocks or taps: the domain rules of one consultation.

Handlers call these functions with a session and one clock reading; everything the bot says is
collected in an `Outbound` and written to the outbox in the same transaction as the state change.

Safety comes first: every text is triaged before any flow, hours rule or timeout looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flows import engine, texts
from flows.emergency import MODERATE_ACK, emergency_message
from flows.engine import Flow, FlowState
from flows.hours import ServiceHours
from flows.intake import ANSWER_FIELDS, INTAKE, summary
from flows.line_messages import text_message
from flows.triage import Assessment, RiskLevel, assess
from storage import clients as client_repo
from storage import consultations as consultation_repo
from storage import friends as friend_repo
from storage import messages as message_repo
from storage import outbox as outbox_repo
from storage.models import Client, Consultation, OutboxMessage

RISK_RANK = {"none": 0, "moderate": 1, "high": 2, "imminent": 3}
CRISIS_PRIORITY = 10


@dataclass(frozen=True)
class Policy:
    """The configuration the domain needs, built once from settings."""

    hours: ServiceHours
    intake: Flow
    hash_key: bytes
    crisis_repeat: timedelta = timedelta(minutes=30)
    waiting_ack_every: timedelta = timedelta(minutes=10)
    hours_notice_every: timedelta = timedelta(hours=1)
    reply_token_ttl: timedelta = timedelta(seconds=50)  # LINE's tokens last about a minute; keep a margin


@dataclass(frozen=True)
class Reply:
    """A LINE reply token and the moment it stops being worth trying (counted from the event's own
    timestamp, not from when we got round to processing it)."""

    token: str
    expires_at: datetime


@dataclass
class Outbound:
    """What the bot says during one unit of work; flushed to the outbox as one batch (one reply)."""

    client: Client
    now: datetime
    reply: Reply | None = None
    consultation: Consultation | None = None
    priority: int = 0
    sender: str = "bot"  # bot or counselor: who the console shows as the author
    staff_id: int | None = None
    items: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)  # (message, kind, text)

    def say(self, text: str, quick_replies: tuple[str, ...] | list[str] = (), *, kind: str = "text") -> None:
        self.items.append((text_message(text, tuple(quick_replies)), kind, text))

    def prompt(self, p: engine.Prompt) -> None:
        self.say(p.text, tuple(c.label for c in p.choices))

    def add(self, message: dict[str, Any], kind: str, text: str) -> None:
        self.items.append((message, kind, text))

    def flush(self, session: Session) -> list[OutboxMessage]:
        if not self.items:
            return []
        consultation_id = self.consultation.id if self.consultation else None
        rows = outbox_repo.enqueue(
            session, self.client, [m for m, _, _ in self.items], self.now,
            consultation_id=consultation_id, reply_token=self.reply.token if self.reply else None,
            reply_token_expires_at=self.reply.expires_at if self.reply else None,
            priority=self.priority,
        )
        for row, indexes in rows:
            for i in indexes:
                _, kind, text = self.items[i]
                message_repo.add(session, client_id=self.client.id, consultation_id=consultation_id,
                                 direction="out", sender=self.sender, staff_id=self.staff_id, text=text,
                                 kind=kind, now=self.now, outbox_id=row.id)
        self.items.clear()
        return [row for row, _ in rows]


# --- events ----------------------------------------------------------------------------------------


def on_follow(session: Session, policy: Policy, line_user_id: str, now: datetime,
              reply: Reply | None) -> Outbound:
    client, created = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    returning = not created and client.followed_at is not None
    client_repo.mark_followed(client, line_user_id, now)
    friend_repo.record(session, client.id, "follow", now)
    out = Outbound(client, now, reply)
    template = texts.GREETING_AGAIN if returning else texts.GREETING
    out.say(template.format(hours=policy.hours.label()), kind="greeting")
    out.flush(session)
    return out


def on_unfollow(session: Session, policy: Policy, line_user_id: str, now: datetime) -> None:
    client = client_repo.find_by_line_user(session, policy.hash_key, line_user_id)
    if client is None:
        return
    client_repo.mark_blocked(client, now)
    friend_repo.record(session, client.id, "block", now)
    outbox_repo.cancel_pending_for_client(session, client.id)
    open_c = consultation_repo.open_for_client(session, client.id)
    if open_c is None:
        return
    if open_c.state in ("intake", "waiting"):
        _close(open_c, now, reason="blocked")
    else:  # active: the counselor decides, but must know the user can no longer read replies
        message_repo.add(session, client_id=client.id, consultation_id=open_c.id, direction="in",
                         sender="system", kind="notice", text="相談者がアカウントをブロックしました。", now=now)


def on_text(session: Session, policy: Policy, line_user_id: str, text: str, now: datetime,
            reply: Reply | None) -> Outbound:
    client, _ = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    out = Outbound(client, now, reply)
    consultation = consultation_repo.open_for_client(session, client.id)
    assessment = assess(text)

    if assessment.is_crisis:
        consultation = _handle_crisis(session, policy, client, consultation, assessment, out, now)
        _store_incoming(session, client, consultation, text, now, assessment)
        out.flush(session)
        return out

    if assessment.level == RiskLevel.MODERATE:
        out.say(MODERATE_ACK, kind="care")

    if consultation is None:
        if not policy.hours.is_open(now):
            _store_incoming(session, client, None, text, now, assessment)
            _outside_hours(policy, client, out, now, force=bool(out.items))
            out.flush(session)
            return out
        consultation = _start_intake(session, policy, client, out, now)
        _flag(consultation, assessment, now)
        _store_incoming(session, client, consultation, text, now, assessment)
    else:
        _flag(consultation, assessment, now)
        _store_incoming(session, client, consultation, text, now, assessment)
        if consultation.state == "intake":
            consultation = _advance_intake(session, policy, client, consultation, text, out, now)
        elif consultation.state == "waiting":
            _while_waiting(policy, consultation, text, out, now)
        elif consultation.state == "active":
            _while_active(session, consultation, text, out, now)
    out.consultation = consultation
    out.flush(session)
    return out


def on_non_text(session: Session, policy: Policy, line_user_id: str, kind: str, now: datetime,
                reply: Reply | None) -> Outbound:
    """A sticker, image, file…: kept as a record (its content is not stored), answered by state."""
    client, _ = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    out = Outbound(client, now, reply)
    consultation = consultation_repo.open_for_client(session, client.id)
    if consultation is None and not policy.hours.is_open(now):
        _outside_hours(policy, client, out, now)
    elif consultation is None:
        consultation = _start_intake(session, policy, client, out, now)
    elif consultation.state == "intake":
        out.say(texts.NON_TEXT_IN_INTAKE)
        out.prompt(engine.prompt_for(policy.intake, consultation.flow_step or policy.intake.entry,
                                     consultation.flow_data or {}))
    elif consultation.state == "waiting":
        _waiting_ack(policy, consultation, out, now)
    message_repo.add(session, client_id=client.id, consultation_id=consultation.id if consultation else None,
                     direction="in", sender="user", kind=kind, text=None, now=now)
    if consultation is not None:
        consultation.last_user_message_at = now
    out.consultation = consultation
    out.flush(session)
    return out


def on_postback(session: Session, policy: Policy, line_user_id: str, data: str, now: datetime,
                reply: Reply | None) -> Outbound:
    """Postbacks carry the closing survey: `survey=<answer>&c=<consultation id>`."""
    client, _ = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    out = Outbound(client, now, reply)
    fields = dict(part.split("=", 1) for part in data.split("&") if "=" in part)
    answer, cid = fields.get("survey"), fields.get("c", "")
    if answer in texts.SURVEY_LABELS and cid.isdigit():
        c = session.get(Consultation, int(cid))
        if c is not None and c.client_id == client.id and c.state == "closed" and c.survey is None:
            c.survey = answer
            out.consultation = c
            out.say(texts.SURVEY_THANKS)
    out.flush(session)
    return out


# --- steps -----------------------------------------------------------------------------------------


def _handle_crisis(session: Session, policy: Policy, client: Client, consultation: Consultation | None,
                   assessment: Assessment, out: Outbound, now: datetime) -> Consultation:
    """Emergency contacts now, whatever the state or hour; the consultation jumps the queue."""
    if consultation is None:
        org = consultation_repo.ensure_default_organization(session, now)
        consultation = consultation_repo.create(session, client, org, now, state="waiting")
        consultation.queued_at = now
    elif consultation.state == "intake":
        # Nobody in crisis should be asked their age band first: go straight to the queue.
        consultation_repo.set_intake_answers(consultation, consultation.flow_data or {})
        _leave_flow(consultation)
        consultation.state = "waiting"
        consultation.queued_at = now
    repeat_due = (consultation.emergency_sent_at is None
                  or now - consultation.emergency_sent_at >= policy.crisis_repeat
                  or assessment.level == RiskLevel.IMMINENT)
    _flag(consultation, assessment, now)
    out.consultation = consultation
    out.priority = CRISIS_PRIORITY
    if repeat_due:
        out.say(emergency_message(assessment.level), kind="emergency")
        consultation.emergency_sent_at = now
    if consultation.state == "waiting":
        if policy.hours.is_open(now):
            out.say(texts.CRISIS_QUEUED, kind="crisis")
        else:
            out.say(texts.CRISIS_OUTSIDE_HOURS.format(hours=policy.hours.label()), kind="crisis")
    return consultation


def _flag(consultation: Consultation, assessment: Assessment, now: datetime) -> None:
    level = assessment.level.value
    if level == "none":
        return
    rank = RISK_RANK[level]
    if rank > consultation.risk_rank:
        consultation.risk_rank = rank
        consultation.risk_level = level
        consultation.risk_flagged_at = now
    consultation.risk_cues = list(dict.fromkeys([*(consultation.risk_cues or []), *assessment.cues]))[:20]
    consultation.risk_topics = sorted({*(consultation.risk_topics or []), *assessment.topics})


def _store_incoming(session: Session, client: Client, consultation: Consultation | None, text: str,
                    now: datetime, assessment: Assessment) -> None:
    message_repo.add(session, client_id=client.id, consultation_id=consultation.id if consultation else None,
                     direction="in", sender="user", text=text, now=now, risk_level=assessment.level.value)
    if consultation is not None:
        consultation.last_user_message_at = now


def _start_intake(session: Session, policy: Policy, client: Client, out: Outbound, now: datetime) -> Consultation:
    org = consultation_repo.ensure_default_organization(session, now)
    consultation = consultation_repo.create(session, client, org, now, state="intake")
    data: dict[str, Any] = {"consented_before": client.consented_at is not None}
    previous = consultation_repo.latest_completed_intake(session, client.id)
    if previous is not None and previous.id != consultation.id:
        answers = {f: getattr(previous, f) for f in ANSWER_FIELDS if getattr(previous, f)}
        data["previous"] = answers
        data["previous_summary"] = summary(answers)
    outcome = engine.start(policy.intake, now, data)
    _apply(consultation, outcome)
    out.consultation = consultation
    for p in outcome.say:
        out.prompt(p)
    return consultation


def _advance_intake(session: Session, policy: Policy, client: Client, consultation: Consultation, text: str,
                    out: Outbound, now: datetime) -> Consultation:
    state = FlowState(consultation.flow_step or policy.intake.entry, dict(consultation.flow_data or {}),
                      consultation.flow_expires_at or now)
    outcome = engine.advance(policy.intake, state, text, now)
    if outcome.status == "expired":
        # The sweep had not got to it yet: same result as if it had, then a fresh start.
        _close(consultation, now, reason="intake_expired")
        return _start_intake(session, policy, client, out, now)
    if outcome.answers.get("consent") == "yes" and client.consented_at is None:
        client.consented_at = now
    for p in outcome.say:
        out.prompt(p)
    if outcome.status == "asking":
        _apply(consultation, outcome)
    elif outcome.status == "cancelled":
        _close(consultation, now, reason="intake_cancelled")
    elif outcome.status == "completed":
        consultation_repo.set_intake_answers(consultation, outcome.answers)
        _leave_flow(consultation)
        consultation.state = "waiting"
        consultation.queued_at = now
        session.flush()
        _queued_message(session, consultation, out)
    return consultation


def _queued_message(session: Session, consultation: Consultation, out: Outbound) -> None:
    ahead = consultation_repo.position(session, consultation)
    if ahead == 0:
        out.say(texts.QUEUED_FIRST, kind="queued")
    elif ahead >= texts.QUEUED_LONG_THRESHOLD:
        out.say(texts.QUEUED_LONG, kind="queued")
    else:
        out.say(texts.QUEUED.format(ahead=ahead), kind="queued")


def _while_waiting(policy: Policy, consultation: Consultation, text: str, out: Outbound, now: datetime) -> None:
    if engine.normalize(text) in {engine.normalize(w) for w in (*texts.COMMAND_END, *texts.COMMAND_CANCEL)}:
        _close(consultation, now, reason="user_withdrew")
        out.say(texts.USER_ENDED)
        return
    _waiting_ack(policy, consultation, out, now)


def _waiting_ack(policy: Policy, consultation: Consultation, out: Outbound, now: datetime) -> None:
    if out.items:
        return
    if consultation.waiting_ack_at is None or now - consultation.waiting_ack_at >= policy.waiting_ack_every:
        consultation.waiting_ack_at = now
        out.say(texts.WAITING_ACK)


def _while_active(session: Session, consultation: Consultation, text: str, out: Outbound, now: datetime) -> None:
    if engine.normalize(text) in {engine.normalize(w) for w in texts.COMMAND_END}:
        _close(consultation, now, reason="user_ended")
        message_repo.add(session, client_id=consultation.client_id, consultation_id=consultation.id,
                         direction="in", sender="system", kind="notice",
                         text="相談者が「終了」を送り、相談を終えました。", now=now)
        out.say(texts.USER_ENDED)


def _outside_hours(policy: Policy, client: Client, out: Outbound, now: datetime, *, force: bool = False) -> None:
    last = client.last_hours_notice_at
    if force or last is None or now - last >= policy.hours_notice_every:
        client.last_hours_notice_at = now
        out.say(texts.OUTSIDE_HOURS.format(hours=policy.hours.label(),
                                           next_opening=policy.hours.describe_next_opening(now)),
                kind="hours")


def _apply(consultation: Consultation, outcome: engine.Outcome) -> None:
    assert outcome.state is not None
    consultation.flow_name = INTAKE
    consultation.flow_step = outcome.state.step
    consultation.flow_data = dict(outcome.state.data)
    consultation.flow_expires_at = outcome.state.expires_at


def _leave_flow(consultation: Consultation) -> None:
    consultation.flow_name = None
    consultation.flow_step = None
    consultation.flow_data = {}
    consultation.flow_expires_at = None


def _close(consultation: Consultation, now: datetime, *, reason: str) -> None:
    _leave_flow(consultation)
    consultation.state = "closed"
    consultation.closed_at = now
    consultation.close_reason = reason


# --- scheduled sweeps ------------------------------------------------------------------------------


def expire_intakes(session: Session, policy: Policy, now: datetime, limit: int = 200) -> int:
    """Close intakes left silent past their deadline, with one gentle line. Returns how many.

    Each intake is claimed by a conditional UPDATE first, so two sweeps running at once (two
    processes, `tsunagu jobs` beside the scheduler) never send the expiry message twice."""
    count = 0
    for c in consultation_repo.claim_expired_intakes(session, now, limit):
        _close(c, now, reason="intake_expired")
        out = Outbound(c.client, now, consultation=c)
        out.say(texts.EXPIRED, kind="expired")
        out.flush(session)
        count += 1
    return count


def send_waiting_updates(session: Session, policy: Policy, now: datetime, after: timedelta,
                         limit: int = 200) -> int:
    """One "still waiting" note to each user who has waited longer than `after` without one; each
    consultation is claimed by a conditional UPDATE, so concurrent sweeps send it once."""
    count = 0
    for c in consultation_repo.claim_waiting_updates(session, now, after, limit):
        out = Outbound(c.client, now, consultation=c)
        out.say(texts.STILL_WAITING, kind="waiting_update")
        out.flush(session)
        count += 1
    return count
