"""What happens when a user writes, follows, blocks or taps: the domain rules of one consultation.

Handlers call these functions with a session and one clock reading; everything the bot says is
collected in an `Outbound` and written to the outbox in the same transaction as the state change.

Safety comes first: every text is triaged before any flow, hours rule or timeout looks at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flows import alerts, engine, lifecycle, routing, texts, waiting
from flows.emergency import crisis_bubbles
from flows.engine import Flow, FlowState
from flows.hours import ServiceHours
from flows.intake import ANSWER_FIELDS, INTAKE, summary
from flows.line_messages import postback_quick_replies, text_message
from flows.triage import Assessment, RiskLevel, assess
from storage import clients as client_repo
from storage import consultations as consultation_repo
from storage import fair_order
from storage import friends as friend_repo
from storage import messages as message_repo
from storage import outbox as outbox_repo
from storage.models import Client, Consultation, OutboxMessage

RISK_RANK = {"none": 0, "moderate": 1, "high": 2, "imminent": 3}
CRISIS_PRIORITY = 10
MODERATE_ESCALATE_AFTER = 3  # this many moderate messages in one consultation count as high
MODERATE_WINDOW = timedelta(hours=12)  # outside hours, with no consultation: moderate messages this recent
NOTIFY_ON_OPENING_DATA = "notify=opening"  # the closed-hours reply's quick reply (flows/evening.py)


class AtRiskCloseRefused(RuntimeError):
    """The bot tried to close a consultation at risk (only staff may): a bug, never a user's doing."""


@dataclass(frozen=True)
class Policy:
    """The configuration the domain needs, built once from settings."""

    hours: ServiceHours
    intake: Flow
    hash_key: bytes
    crisis_repeat: timedelta = timedelta(minutes=30)
    waiting_ack_every: timedelta = timedelta(minutes=10)
    at_risk_ack_every: timedelta = timedelta(minutes=3)
    hours_notice_every: timedelta = timedelta(hours=1)
    reply_token_ttl: timedelta = timedelta(seconds=50)  # LINE's tokens last about a minute; keep a margin
    routing: routing.RoutingPolicy = routing.RoutingPolicy()  # consortium routing and queue status (issue 10)


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
        # Linked by object: a consultation started by this event may not be inserted yet (one flush
        # at the end of the batch writes it, its messages and its outbox rows).
        c = self.consultation
        rows = outbox_repo.enqueue(
            session, self.client, [m for m, _, _ in self.items], self.now,
            consultation_id=c.id if c else None, consultation=c,
            reply_token=self.reply.token if self.reply else None,
            reply_token_expires_at=self.reply.expires_at if self.reply else None,
            priority=self.priority, flush=False,
        )
        for row, indexes in rows:
            for i in indexes:
                _, kind, text = self.items[i]
                message_repo.add(session, client_id=self.client.id, consultation_id=c.id if c else None,
                                 consultation=c, direction="out", sender=self.sender, staff_id=self.staff_id,
                                 text=text, kind=kind, now=self.now, outbox=row)
        self.items.clear()
        return [row for row, _ in rows]


# --- events ----------------------------------------------------------------------------------------
#
# Every text is triaged first. A crisis (high/imminent, or moderate repeated) goes straight to the crisis
# step whatever the state or hour. Everything else is decided by the lifecycle table (flows/lifecycle.py):
# the state's command for the typed word if it has one, else the state's handler.


@dataclass
class Turn:
    """One event being handled: what the lifecycle's actions work on."""

    session: Session
    policy: Policy
    client: Client
    out: Outbound
    now: datetime
    consultation: Consultation | None
    text: str | None = None
    word: str | None = None  # the command as typed, for the counselor's notice
    new_client: bool = False  # first contact: nothing earlier to look up


def on_follow(session: Session, policy: Policy, line_user_id: str, now: datetime,
              reply: Reply | None) -> Outbound:
    client, created = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    returning = not created and client.followed_at is not None
    client_repo.mark_followed(client, line_user_id, now)
    friend_repo.record(session, client.id, "follow", now)
    out = Outbound(client, now, reply)
    template = texts.GREETING_AGAIN if returning else texts.GREETING
    greeting = template.format(hours=policy.hours.label())
    if not policy.hours.is_open(now):  # every after-hours reply names the exact next opening
        greeting += "\n" + texts.GREETING_CLOSED_NOW.format(next_opening=policy.hours.describe_next_opening(now))
    out.say(greeting, kind="greeting")
    out.flush(session)
    return out


def on_unfollow(session: Session, policy: Policy, line_user_id: str, now: datetime) -> None:
    client = client_repo.find_by_line_user(session, policy.hash_key, line_user_id)
    if client is None:
        return
    client_repo.mark_blocked(client, now)
    friend_repo.record(session, client.id, "block", now)
    outbox_repo.cancel_pending_for_client(session, client.id)
    consultation = consultation_repo.open_for_client(session, client.id)
    turn = Turn(session, policy, client, Outbound(client, now), now, consultation)
    _run(turn, "block")


def on_text(session: Session, policy: Policy, line_user_id: str, text: str, now: datetime,
            reply: Reply | None) -> Outbound:
    client, created = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    out = Outbound(client, now, reply)
    consultation = None if created else consultation_repo.open_for_client(session, client.id)
    assessment = assess(text)
    acted_on = _escalate_repeated_moderate(session, client, consultation, assessment, now)

    if acted_on.is_crisis:
        consultation = _handle_crisis(session, policy, client, consultation, acted_on, out, now)
        _store_incoming(session, client, consultation, text, now, assessment)
        if acted_on is not assessment:
            _notice(session, consultation, texts.NOTICE_MODERATE_ESCALATED.format(count=MODERATE_ESCALATE_AFTER), now)
        out.flush(session)
        return out

    if assessment.level == RiskLevel.MODERATE:
        out.say(texts.MODERATE_ACK, kind="care")
    if consultation is not None:
        _flag(consultation, assessment, now)
        _store_incoming(session, client, consultation, text, now, assessment)
    turn = Turn(session, policy, client, out, now, consultation, text=text, new_client=created)
    _run(turn, "text")
    if consultation is None:  # started (or not, outside hours) by the step
        if turn.consultation is not None:
            _flag(turn.consultation, assessment, now)
        _store_incoming(session, client, turn.consultation, text, now, assessment)
    out.consultation = turn.consultation
    out.flush(session)
    return out


def on_non_text(session: Session, policy: Policy, line_user_id: str, kind: str, now: datetime,
                reply: Reply | None) -> Outbound:
    """A sticker, image, file…: kept as a record (its content is not stored), answered by state."""
    client, _ = client_repo.get_or_create(session, policy.hash_key, line_user_id, now)
    out = Outbound(client, now, reply)
    consultation = consultation_repo.open_for_client(session, client.id)
    turn = Turn(session, policy, client, out, now, consultation)
    _run(turn, "non_text")
    consultation = turn.consultation
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
    if data == NOTIFY_ON_OPENING_DATA or "menu" in fields:  # the evening clock and the rich menu (issue 10)
        _on_menu_postback(session, policy, client, fields, out, now)
        out.flush(session)
        return out
    answer, cid = fields.get("survey"), fields.get("c", "")
    if answer in texts.SURVEY_LABELS and cid.isdigit():
        c = session.get(Consultation, int(cid))
        if c is not None and c.client_id == client.id and c.state == "closed" and c.survey is None:
            c.survey = answer
            out.consultation = c
            out.say(texts.SURVEY_THANKS)
    out.flush(session)
    return out


def _on_menu_postback(session: Session, policy: Policy, client: Client, fields: dict[str, str], out: Outbound,
                      now: datetime) -> None:
    from flows import evening, menu

    if fields.get("notify") == "opening":
        evening.ask_to_be_told(session, policy, client, out, now)
    elif fields.get("menu") == "consult":
        consultation = consultation_repo.open_for_client(session, client.id)
        out.consultation = consultation
        if consultation is not None:
            out.say(texts.CONSULT_ALREADY_OPEN)
        elif policy.hours.is_open(now):  # as if they had written: the intake starts
            out.consultation = _start_intake(session, policy, client, out, now, user_wrote=False)
        else:
            _outside_hours(policy, client, out, now, force=True)
    else:
        menu.answer(policy, fields.get("menu", ""), out, now)


# --- the lifecycle's actions -------------------------------------------------------------------------


def _run(turn: Turn, event: str) -> None:
    c = turn.consultation
    state = lifecycle.state_of(c.state if c else None, c.risk_rank if c else 0)
    turn.word = turn.text
    _ACTIONS[lifecycle.decide(LIFECYCLE, state, event, turn.text)](turn)


def _act_start(t: Turn) -> None:
    if not t.policy.hours.is_open(t.now):
        _outside_hours(t.policy, t.client, t.out, t.now, force=bool(t.out.items))
        return
    t.consultation = _start_intake(t.session, t.policy, t.client, t.out, t.now, new_client=t.new_client)


def _act_advance_intake(t: Turn) -> None:
    assert t.consultation is not None and t.text is not None
    t.consultation = _advance_intake(t.session, t.policy, t.client, t.consultation, t.text, t.out, t.now)


def _act_repeat_intake_question(t: Turn) -> None:
    assert t.consultation is not None
    t.out.say(texts.NON_TEXT_IN_INTAKE)
    t.out.prompt(engine.prompt_for(t.policy.intake, t.consultation.flow_step or t.policy.intake.entry,
                                   t.consultation.flow_data or {}))


def _act_ack_waiting(t: Turn) -> None:
    assert t.consultation is not None
    _waiting_ack(t.session, t.policy, t.consultation, t.out, t.now)


def _act_relay(t: Turn) -> None:
    """Active: the counselor reads it in the console; the bot stays quiet."""


def _act_close_by_user(t: Turn) -> None:
    c = t.consultation
    assert c is not None
    if c.state == "active":
        _close(c, t.now, reason="user_ended")
        _notice(t.session, c, "相談者が「終了」を送り、相談を終えました。", t.now)
    else:
        _close(c, t.now, reason="user_withdrew")
    t.out.say(texts.USER_ENDED)


def _act_close_blocked(t: Turn) -> None:
    assert t.consultation is not None
    _close(t.consultation, t.now, reason="blocked")


def _act_note_blocked(t: Turn) -> None:
    # Active: the counselor decides, but must know the user can no longer read replies.
    assert t.consultation is not None
    _notice(t.session, t.consultation, "相談者がアカウントをブロックしました。", t.now, direction="in")


def _act_note_blocked_at_risk(t: Turn) -> None:
    assert t.consultation is not None
    _notice(t.session, t.consultation, texts.NOTICE_AT_RISK_BLOCKED, t.now, direction="in")


def _act_hold_at_risk(t: Turn) -> None:
    """終わり from a person at risk: a gentle reply, a notice for the counselor, and it stays open."""
    c = t.consultation
    assert c is not None
    t.out.consultation = c
    t.out.priority = CRISIS_PRIORITY
    t.out.say(texts.AT_RISK_END, kind="crisis")
    _notice(t.session, c, texts.NOTICE_AT_RISK_END.format(word=(t.word or "").strip()[:20]), t.now)


def _act_queue_at_risk(t: Turn) -> None:
    """An at-risk consultation found in intake (should not happen: the crisis step queues it)."""
    c = t.consultation
    assert c is not None
    consultation_repo.set_intake_answers(c, c.flow_data or {})
    _leave_flow(c)
    _enter_queue(t.session, t.policy, c, t.now)
    _at_risk_ack(t.policy, c, t.out, t.now, force=True)


def _act_ack_at_risk(t: Turn) -> None:
    assert t.consultation is not None
    _at_risk_ack(t.policy, t.consultation, t.out, t.now)


def _act_ignore(t: Turn) -> None:
    """Nothing to do (e.g. a block with no open consultation)."""


# Issue 10: a waiting user (never one at risk: those states do not list these commands) asks where they
# stand, asks to be told when it is their turn, or asks for the counselor of last time.
def _act_tell_position(t: Turn) -> None:
    assert t.consultation is not None
    c, policy = t.consultation, t.policy.routing
    t.out.say(waiting.where_you_stand(t.session, policy, c, t.now),
              waiting.quick_replies(t.session, policy, c, t.now), kind="position")


def _act_notify_turn(t: Turn) -> None:
    assert t.consultation is not None
    c = t.consultation
    t.out.say(waiting.ask_to_notify(t.session, c, t.now), waiting.quick_replies(t.session, t.policy.routing, c, t.now),
              kind="position")


def _act_same_counselor(t: Turn) -> None:
    assert t.consultation is not None
    c = t.consultation
    t.out.say(waiting.choose_same_counselor(t.session, t.policy.routing, c, t.now),
              waiting.quick_replies(t.session, t.policy.routing, c, t.now), kind="position")


_ACTIONS: dict[str, Callable[[Turn], None]] = {
    "start": _act_start, "advance_intake": _act_advance_intake,
    "repeat_intake_question": _act_repeat_intake_question, "ack_waiting": _act_ack_waiting, "relay": _act_relay,
    "close_by_user": _act_close_by_user, "close_blocked": _act_close_blocked, "note_blocked": _act_note_blocked,
    "note_blocked_at_risk": _act_note_blocked_at_risk, "hold_at_risk": _act_hold_at_risk,
    "queue_at_risk": _act_queue_at_risk, "ack_at_risk": _act_ack_at_risk, "ignore": _act_ignore,
    "tell_position": _act_tell_position, "notify_turn": _act_notify_turn, "same_counselor": _act_same_counselor,
}
LIFECYCLE = lifecycle.build_lifecycle(_ACTIONS)


# --- steps -----------------------------------------------------------------------------------------


def _enter_queue(session: Session, policy: Policy, consultation: Consultation, now: datetime) -> None:
    """The one place a consultation joins the waiting queue (intake done, or a crisis): in the fair order,
    in the member's queue the routing rules choose (flows/routing.py; the decision is recorded)."""
    consultation.state = "waiting"
    consultation.queued_at = now
    fair_order.set_queue_key(consultation)
    routing.route(session, policy.routing, consultation, now)
    session.flush()


def _escalate_repeated_moderate(session: Session, client: Client, consultation: Consultation | None,
                                assessment: Assessment, now: datetime) -> Assessment:
    """Several moderate messages in one consultation (or, outside hours with none open, within
    `MODERATE_WINDOW`) count as high: the assessment to act on."""
    if assessment.level != RiskLevel.MODERATE:
        return assessment
    if consultation is None:
        earlier = message_repo.count_unattached_at_level(session, client.id, RiskLevel.MODERATE.value,
                                                         since=now - MODERATE_WINDOW)
    elif consultation.risk_rank >= lifecycle.AT_RISK_RANK:
        return assessment
    else:
        earlier = message_repo.count_incoming_at_level(session, consultation.id, RiskLevel.MODERATE.value)
    if earlier + 1 < MODERATE_ESCALATE_AFTER:
        return assessment
    return Assessment(RiskLevel.HIGH, (texts.MODERATE_ESCALATED_CUE, *assessment.cues), assessment.topics,
                      assessment.about_other)


def _handle_crisis(session: Session, policy: Policy, client: Client, consultation: Consultation | None,
                   assessment: Assessment, out: Outbound, now: datetime) -> Consultation:
    """Emergency contacts now, whatever the state or hour; the consultation jumps the queue and every
    counselor on duty is alerted."""
    if consultation is None:
        org = consultation_repo.ensure_default_organization(session, now)
        consultation = consultation_repo.create(session, client, org, now, state="intake")
        _enter_queue(session, policy, consultation, now)
    elif consultation.state == "intake":
        # Nobody in crisis should be asked their age band first: go straight to the queue.
        consultation_repo.set_intake_answers(consultation, consultation.flow_data or {})
        _leave_flow(consultation)
        _enter_queue(session, policy, consultation, now)
    repeat_due = (consultation.emergency_sent_at is None
                  or now - consultation.emergency_sent_at >= policy.crisis_repeat
                  or assessment.level == RiskLevel.IMMINENT)
    if _flag(consultation, assessment, now):
        alerts.raise_alert(consultation, now)  # new or escalated: the console alerts again
        if consultation.state == "waiting":
            routing.record_at_risk(session, consultation, now)  # every counselor on duty sees it now
    if assessment.about_other:
        consultation.risk_about_other = True
    if consultation.state == "waiting" and consultation.waiting_notice_at is None:
        # The status bubble below is this person's waiting note; the generic "still waiting" sweep,
        # which cannot know the hours or the priority promised, leaves at-risk consultations alone.
        consultation.waiting_notice_at = now
    out.consultation = consultation
    out.priority = CRISIS_PRIORITY
    open_now = policy.hours.is_open(now)
    if repeat_due:
        for bubble in crisis_bubbles(assessment.level, now, policy.hours.tz, service_open=open_now,
                                     about_other=assessment.about_other):
            out.say(bubble, kind="emergency")
        consultation.emergency_sent_at = now
    if consultation.state == "waiting":
        if open_now:
            out.say(texts.CRISIS_QUEUED_FAMILY if assessment.about_other else texts.CRISIS_QUEUED, kind="crisis")
        else:
            out.say(texts.CRISIS_OUTSIDE_HOURS.format(
                hours=policy.hours.label(), next_opening=policy.hours.describe_next_opening(now)), kind="crisis")
    return consultation


def _flag(consultation: Consultation, assessment: Assessment, now: datetime) -> bool:
    """Record the level and cues; True when the level rose to high or imminent (new or escalated)."""
    level = assessment.level.value
    if level == "none":
        return False
    rank = RISK_RANK[level]
    rose = rank > consultation.risk_rank
    if rose:
        consultation.risk_rank = rank
        consultation.risk_level = level
        consultation.risk_flagged_at = now
        fair_order.set_queue_key(consultation)  # a waiting consultation moves up (storage/fair_order.py)
    consultation.risk_cues = list(dict.fromkeys([*(consultation.risk_cues or []), *assessment.cues]))[:20]
    consultation.risk_topics = sorted({*(consultation.risk_topics or []), *assessment.topics})
    return rose and rank >= lifecycle.AT_RISK_RANK


def _store_incoming(session: Session, client: Client, consultation: Consultation | None, text: str,
                    now: datetime, assessment: Assessment) -> None:
    message_repo.add(session, client_id=client.id, consultation_id=consultation.id if consultation else None,
                     consultation=consultation, direction="in", sender="user", text=text, now=now,
                     risk_level=assessment.level.value, risk_cues=list(assessment.cues) or None)
    if consultation is not None:
        consultation.last_user_message_at = now


def _notice(session: Session, consultation: Consultation, text: str, now: datetime, *,
            direction: str = "out") -> None:
    """A line in the chat for the counselor only (sender "system"); never sent to the user."""
    message_repo.add(session, client_id=consultation.client_id, consultation_id=consultation.id,
                     direction=direction, sender="system", kind="notice", text=text, now=now)


def _start_intake(session: Session, policy: Policy, client: Client, out: Outbound, now: datetime, *,
                  new_client: bool = False, user_wrote: bool = True) -> Consultation:
    org = consultation_repo.ensure_default_organization(session, now)
    data: dict[str, Any] = {"consented_before": client.consented_at is not None}
    previous = None if new_client else consultation_repo.latest_completed_intake(session, client.id)
    if previous is not None:
        answers = {f: getattr(previous, f) for f in ANSWER_FIELDS if getattr(previous, f)}
        data["previous"] = answers
        data["previous_summary"] = summary(answers)
    outcome = engine.start(policy.intake, now, data)
    # The flow's first step goes into the INSERT itself (not an UPDATE right after it).
    fields = _flow_fields(outcome) | ({"last_user_message_at": now} if user_wrote else {})
    # Not flushed here: nothing below needs its id (the rows written next are linked to the object).
    consultation = consultation_repo.create(session, client, org, now, state="intake", fields=fields, flush=False)
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
        _enter_queue(session, policy, consultation, now)
        _queued_message(session, policy, consultation, out, now)
    return consultation


def _queued_message(session: Session, policy: Policy, consultation: Consultation, out: Outbound,
                    now: datetime) -> None:
    """Joined the queue: how many are ahead, an honest expected wait, and the waiting user's buttons."""
    c = consultation
    if c.risk_rank >= lifecycle.AT_RISK_RANK:  # never a queue for a person at risk (the crisis step speaks)
        return
    ahead = consultation_repo.position(session, c, now)
    if ahead == 0:
        text = texts.QUEUED_FIRST
    elif ahead >= texts.QUEUED_LONG_THRESHOLD:
        text = texts.QUEUED_LONG
    else:
        text = texts.QUEUED.format(ahead=ahead)
    if ahead:
        text += "\n" + waiting.describe_wait(waiting.expected_wait(session, policy.routing, now))
    offer = waiting.previous_counselor(session, policy.routing, c, now) is not None
    if offer:
        text += "\n" + texts.SAME_COUNSELOR_OFFER
    out.say(text, waiting.quick_replies(session, policy.routing, c, now, offer_same_counselor=offer), kind="queued")


def _waiting_ack(session: Session, policy: Policy, consultation: Consultation, out: Outbound, now: datetime) -> None:
    if out.items:
        return
    if consultation.waiting_ack_at is None or now - consultation.waiting_ack_at >= policy.waiting_ack_every:
        consultation.waiting_ack_at = now
        out.say(texts.WAITING_ACK, waiting.quick_replies(session, policy.routing, consultation, now))


def _at_risk_ack(policy: Policy, consultation: Consultation, out: Outbound, now: datetime, *,
                 force: bool = False) -> None:
    """A person at risk writes again while waiting: never 「順番」, and the hours told truthfully."""
    if out.items and not force:
        return
    if force or consultation.waiting_ack_at is None or now - consultation.waiting_ack_at >= policy.at_risk_ack_every:
        consultation.waiting_ack_at = now
        out.priority = CRISIS_PRIORITY
        if policy.hours.is_open(now):
            out.say(texts.AT_RISK_WAITING_ACK, kind="crisis")
        else:
            out.say(texts.AT_RISK_WAITING_ACK_OUTSIDE_HOURS.format(
                next_opening=policy.hours.describe_next_opening(now)), kind="crisis")


def _outside_hours(policy: Policy, client: Client, out: Outbound, now: datetime, *, force: bool = False) -> None:
    last = client.last_hours_notice_at
    if force or last is None or now - last >= policy.hours_notice_every:
        client.last_hours_notice_at = now
        text = texts.OUTSIDE_HOURS.format(hours=policy.hours.label(),
                                          next_opening=policy.hours.describe_next_opening(now))
        # 「開いたら知らせて」: one message when the line opens (flows/evening.py)
        out.add(postback_quick_replies(text, [(texts.NOTIFY_ON_OPENING, NOTIFY_ON_OPENING_DATA)]), "hours", text)


def _flow_fields(outcome: engine.Outcome) -> dict[str, Any]:
    assert outcome.state is not None
    return {"flow_name": INTAKE, "flow_step": outcome.state.step, "flow_data": dict(outcome.state.data),
            "flow_expires_at": outcome.state.expires_at}


def _apply(consultation: Consultation, outcome: engine.Outcome) -> None:
    for name, value in _flow_fields(outcome).items():
        setattr(consultation, name, value)


def _leave_flow(consultation: Consultation) -> None:
    consultation.flow_name = None
    consultation.flow_step = None
    consultation.flow_data = {}
    consultation.flow_expires_at = None


def _close(consultation: Consultation, now: datetime, *, reason: str) -> None:
    # The one way the bot closes: refused for a consultation at risk, whatever asked for it.
    if consultation.risk_rank >= lifecycle.AT_RISK_RANK:
        raise AtRiskCloseRefused(f"consultation {consultation.id} is at risk; only staff close it")
    _leave_flow(consultation)
    consultation.state = "closed"
    consultation.closed_at = now
    consultation.close_reason = reason


close_by_bot = _close  # the same one way, for the evening clock (flows/evening.py)


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
