"""The evening clock (issue 10): the line opens, warns before it closes, closes kindly, and watches chats
that went quiet and messages that never arrived.

Each sweep is a plain function of (session, policy, now[, a duration from the settings], limit): it
claims its rows with one conditional UPDATE (storage/evening.py) and acts only on what it took, so two
runs at the same moment act once; it returns how many it acted on. Tests call them with a fake clock.

Whose evening? Today one service-wide clock, `policy.hours` (SERVICE_HOURS, CLOSED_DATES). Organizations
with evenings of their own (issue 10 point 1) plug in at one place, `evenings()`, which hands each sweep
a list of (hours, organization ids) groups; everything else here reads only that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from flows import lifecycle, texts
from flows.consultation import CRISIS_PRIORITY, Outbound, Policy, close_by_bot
from flows.emergency import lines_text
from flows.hours import ServiceHours, describe_moment
from storage import evening as repo
from storage import messages as message_repo
from storage.models import Client, Consultation


@dataclass(frozen=True)
class Evening:
    """One clock and the consultations it governs (None: all of them)."""

    hours: ServiceHours
    organization_ids: tuple[int, ...] | None = None


def evenings(session: Session, policy: Policy) -> list[Evening]:
    """The clocks the sweeps follow, as disjoint groups. The one seam for per-organization evenings: return
    one `Evening` per organization (its own hours and closed dates) and one for the shared queue, and the
    closing notice and the close follow each organization's evening."""
    return [Evening(policy.hours)]


def _closes_label(hours: ServiceHours, now: datetime) -> str:
    span = hours.open_span(now)
    return f"{span[1]:%H:%M}" if span else ""


def _next_opening_after(hours: ServiceHours, moment: datetime, now: datetime) -> str:
    at = hours.next_opening(moment)
    return describe_moment(at, now.astimezone(hours.tz).date()) if at else hours.describe_next_opening(now)


# --- outside hours: 「開いたら知らせて」 ------------------------------------------------------------------


def ask_to_be_told(session: Session, policy: Policy, client: Client, out: Outbound, now: datetime) -> None:
    """The user tapped 「開いたら知らせて」: one message when the line next opens (asking twice keeps one)."""
    if policy.hours.is_open(now):
        out.say(texts.NOTIFY_ON_OPENING_NOW_OPEN, kind="hours")
        return
    repo.request_opening_notice(session, client.id, now)
    out.say(texts.NOTIFY_ON_OPENING_OK.format(next_opening=policy.hours.describe_next_opening(now)), kind="hours")


def send_opening_notices(session: Session, policy: Policy, now: datetime, limit: int = 200) -> int:
    """While the line is open: one push to each user who asked, outside hours, to be told. The claim
    consumes the request, so a second run (or the next minute's) sends nothing."""
    if not policy.hours.is_open(now):
        return 0
    closes = _closes_label(policy.hours, now)
    count = 0
    for client in repo.claim_opening_notices(session, now, limit):
        if client.blocked_at is not None or client.line_user_id is None:
            continue  # nobody to tell: blocked since, or the ID is gone (retention)
        out = Outbound(client, now)
        out.say(texts.OPENING_NOTICE.format(closes=closes), (texts.START_CONSULTATION,), kind="opening")
        out.flush(session)
        count += 1
    return count


# --- closing -------------------------------------------------------------------------------------------


def send_closing_notices(session: Session, policy: Policy, now: datetime, lead: timedelta,
                         limit: int = 200) -> int:
    """From `lead` before the line closes: one note to everyone waiting saying when it closes and what
    happens then (at risk: it stays open and they are answered first next time). Once per closing."""
    count = 0
    for evening in evenings(session, policy):
        span = evening.hours.open_span(now)
        if span is None or now < span[1] - lead:
            continue
        closes_at = span[1]
        next_opening = _next_opening_after(evening.hours, closes_at, now)
        for c in repo.claim_closing_notices(session, now, closes_at - lead, limit, evening.organization_ids):
            out = Outbound(c.client, now, consultation=c)
            if c.risk_rank >= lifecycle.AT_RISK_RANK:
                out.priority = CRISIS_PRIORITY
                out.say(texts.CLOSING_NOTICE_AT_RISK.format(closes=f"{closes_at:%H:%M}", next_opening=next_opening),
                        kind="crisis")
            else:
                out.say(texts.CLOSING_NOTICE.format(closes=f"{closes_at:%H:%M}", next_opening=next_opening),
                        kind="closing_notice")
            out.flush(session)
            count += 1
    return count


def close_queue(session: Session, policy: Policy, now: datetime, limit: int = 200) -> int:
    """Once the line has closed: each consultation still waiting (or mid-intake) is closed kindly, with
    the next opening and the lines open tonight. Consultations at risk are never closed by the bot: they
    stay queued, first in line at the next opening, and the crisis texts go on applying to them. Active
    chats are the counselor's to close."""
    count = 0
    for evening in evenings(session, policy):
        if evening.hours.is_open(now):
            continue
        hours = evening.hours
        for c in repo.claim_for_closing(session, limit, evening.organization_ids):
            in_intake = c.state == "intake"
            close_by_bot(c, now, reason="service_closed")  # refuses a consultation at risk, whatever asked
            out = Outbound(c.client, now, consultation=c)
            template = texts.QUEUE_CLOSED_INTAKE if in_intake else texts.QUEUE_CLOSED
            out.say(template.format(next_opening=hours.describe_next_opening(now), hours=hours.label()),
                    kind="service_closed")
            out.say(lines_tonight(hours, now, family=c.who == "family"), kind="service_closed")
            out.flush(session)
            message_repo.add(session, client_id=c.client_id, consultation_id=c.id, direction="out",
                             sender="system", kind="notice", text=texts.NOTICE_QUEUE_CLOSED, now=now)
            count += 1
    return count


def lines_tonight(hours: ServiceHours, now: datetime, *, family: bool = False) -> str:
    """The lines a person can call now that the service is closed, and 119/110."""
    lines = lines_text(now, hours.tz, texts.LINES_TONIGHT_HEADING, service_open=False,
                       audience="family" if family else "self")
    return f"{lines}\n{texts.LINES_TONIGHT_EMERGENCY}" if lines else texts.LINES_TONIGHT_EMERGENCY


# --- during the evening ----------------------------------------------------------------------------------


def prompt_idle_chats(session: Session, policy: Policy, now: datetime, idle: timedelta, limit: int = 200) -> int:
    """An active chat where the counselor spoke last and the user has been silent for `idle`: a line in the
    chat for the counselor, who may close it as 中断/離脱 (`dropped`). Once per silence."""
    minutes = int(idle.total_seconds() // 60)
    count = 0
    for c in repo.claim_idle_chats(session, now, idle, limit):
        text = texts.NOTICE_IDLE_AT_RISK if c.risk_rank >= lifecycle.AT_RISK_RANK else texts.NOTICE_IDLE
        message_repo.add(session, client_id=c.client_id, consultation_id=c.id, direction="out", sender="system",
                         kind="idle_prompt", text=text.format(minutes=minutes), now=now)
        count += 1
    return count


def is_idle(c: Consultation) -> bool:
    """The console's reading of the prompt: prompted, and nobody has written since."""
    if c.state != "active" or c.idle_prompted_at is None or c.last_counselor_message_at is None:
        return False
    user_after = c.last_user_message_at is not None and c.last_user_message_at > c.last_counselor_message_at
    return c.idle_prompted_at >= c.last_counselor_message_at and not user_after


def alert_dead_letters(session: Session, now: datetime, limit: int = 200) -> int:
    """Outbox rows failed after their last attempt are raised to coordinators (the console's list) and
    noted in their chat for the counselor. Once per row."""
    count = 0
    for row in repo.claim_dead_letters(session, now, limit):
        if row.consultation_id is not None:
            message_repo.add(session, client_id=row.client_id, consultation_id=row.consultation_id,
                             direction="out", sender="system", kind="notice", text=texts.NOTICE_UNDELIVERED, now=now)
        count += 1
    return count


# --- LINE's read receipts ----------------------------------------------------------------------------------


def remember_read_token(consultation: Consultation | None, token: str | None) -> None:
    """Keep the user's latest mark-as-read token on their open consultation, until a counselor opens it."""
    if consultation is not None and token and consultation.state != "closed":
        consultation.read_token = token[:512]
