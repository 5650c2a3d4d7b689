"""What the console shows of a consultation: pseudonyms and codes, never a LINE user ID.

Times go out twice: as ISO (UTC) for scripts, and as labels in the service's time zone (JST) for people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console import texts as console_texts
from bot.stats import labels as stats_labels
from flows import evening, texts
from flows.handoff import DISPOSITIONS, REFERRALS
from flows.intake import area_label
from storage import labels as label_repo
from storage import messages as message_repo
from storage import milestones as milestone_repo
from storage import organizations as org_repo
from storage import workspace as workspace_repo
from storage.models import Consultation, Note, Organization, Staff, Transfer

RISK_LABELS = {"none": "", "moderate": "注意", "high": "高リスク", "imminent": "緊急"}
STATE_LABELS = {"intake": "受付中", "waiting": "待機中", "active": "対応中", "closed": "終了"}
WEEKDAYS = "月火水木金土日"


def intake(c: Consultation) -> dict[str, Any]:
    return {"who": c.who, "age_band": c.age_band, "area": c.area, "concern": c.concern}


def intake_labels(c: Consultation) -> dict[str, str]:
    return {"who": texts.WHO_LABELS.get(c.who or "", "—"), "age_band": texts.AGE_LABELS.get(c.age_band or "", "—"),
            "area": area_label(c.area) or "—", "concern": texts.CONCERN_LABELS.get(c.concern or "", "—")}


def returning(db: Session, c: Consultation) -> bool:
    earlier = select(func.count()).select_from(Consultation).where(Consultation.client_id == c.client_id,
                                                                    Consultation.id < c.id)
    return (db.scalar(earlier) or 0) > 0


class Clock:
    """One request's reading of the clock, and how its times are shown (the service's zone)."""

    def __init__(self, now: datetime, zone: str) -> None:
        self.now = now
        self.zone = ZoneInfo(zone)
        self.today = now.astimezone(self.zone).date()

    def time(self, at: datetime | None) -> str:
        return at.astimezone(self.zone).strftime("%H:%M") if at else ""

    def date(self, at: datetime | None) -> str:
        if at is None:
            return ""
        local = at.astimezone(self.zone)
        return f"{local.year}年{local.month}月{local.day}日（{WEEKDAYS[local.weekday()]}）"

    def short(self, at: datetime | None) -> str:
        """17:05 today, 11/22 17:05 on another day."""
        if at is None:
            return ""
        local = at.astimezone(self.zone)
        return local.strftime("%H:%M") if local.date() == self.today else f"{local.month}/{local.day} {local:%H:%M}"

    def full(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return f"{self.date(at)} {at.astimezone(self.zone):%H:%M:%S}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def summary(db: Session, c: Consultation, now: datetime) -> dict[str, Any]:
    waited_from = c.queued_at or c.created_at
    return {
        "id": c.id, "pseudonym": c.client.pseudonym, "state": c.state, "risk": c.risk_level,
        "risk_label": RISK_LABELS.get(c.risk_level, ""), "cues": list(c.risk_cues or []),
        "waiting_seconds": int((now - waited_from).total_seconds()) if c.state == "waiting" else None,
        "intake": intake(c), "intake_labels": intake_labels(c), "returning": returning(db, c),
        "training": c.is_training, "counselor": c.counselor.display_name if c.counselor else None,
        "organization": c.organization.slug, "about_other": c.risk_about_other,
        "idle": evening.is_idle(c),  # the user went quiet: the counselor may close it as 中断/離脱
        **route_summary(db, c, now),
    }


def route_summary(db: Session, c: Consultation, now: datetime) -> dict[str, Any]:
    """Issue 10: which queue it is in and why every counselor may see it (shown as badges)."""
    transferred = bool(db.scalar(select(func.count()).select_from(Transfer).where(Transfer.consultation_id == c.id)))
    preferred = db.get(Staff, c.preferred_staff_id) if c.preferred_staff_id else None
    return {"organization_name": c.organization.name, "queue_badges": queue_badges(c, now, transferred),
            "preferred_counselor": preferred.display_name if preferred else None,
            "overflow_at": c.overflow_at.isoformat() if c.overflow_at else None}


def queue_badges(c: Consultation, now: datetime, transferred: bool) -> list[str]:
    """Why a waiting consultation is in this queue and who sees it (共有, 全団体, 全員, 指名, 引き継ぎ)."""
    badges = []
    if c.state == "waiting":
        if c.organization.is_default:
            badges.append(console_texts.QUEUE_SHARED)
        elif c.overflow_at is not None and c.overflow_at <= now:
            badges.append(console_texts.QUEUE_OVERFLOW)
        if c.risk_rank >= 2:
            badges.append(console_texts.QUEUE_AT_RISK)
        if c.preferred_staff_id is not None:
            badges.append(console_texts.QUEUE_PREFERRED)
        if transferred:
            badges.append(console_texts.QUEUE_TRANSFERRED)
    return badges


def routing_history(db: Session, c: Consultation) -> list[dict[str, Any]]:
    """Every routing decision with its reason, oldest first, in words (and the members tried)."""
    out = []
    for d in org_repo.decisions(db, c.id):
        org = d.organization.name if d.organization else "—"
        staff = d.staff.display_name if d.staff else "—"
        template = console_texts.ROUTING_REASONS.get(d.reason, d.reason)
        out.append({"kind": d.kind, "kind_label": console_texts.ROUTING_KINDS.get(d.kind, d.kind),
                    "reason": d.reason, "rule": d.rule, "organization": d.organization.slug if d.organization else None,
                    "text": template.format(rule=d.rule or "", org=org, staff=staff),
                    "tried": [{"slug": t.get("slug"), "outcome": t.get("outcome"),
                               "label": console_texts.CANDIDATE_OUTCOMES.get(t.get("outcome", ""), "")}
                              for t in (d.candidates or [])],
                    "created_at": d.created_at.isoformat()})
    return out


def alert(db: Session, c: Consultation, now: datetime) -> dict[str, Any]:
    """One console alert: `key` changes with each new alert (escalation or re-alert), so a page sounds once
    per key; pseudonym and cue names only."""
    out = summary(db, c, now)
    out["alert_count"] = c.alert_count
    out["alerted_at"] = c.alerted_at.isoformat() if c.alerted_at else None
    out["key"] = f"{c.id}:{c.alert_count}"
    return out


def item(c: Consultation, f: workspace_repo.Facts, clock: Clock) -> dict[str, Any]:
    """One row of the workspace list. Nothing in it changes with the clock alone (the page counts the
    waiting time from `waiting_since` and the stream's `now`), so an unchanged list hashes the same."""
    return {
        "id": c.id, "pseudonym": c.client.pseudonym, "state": c.state, "state_label": STATE_LABELS.get(c.state, ""),
        "risk": c.risk_level, "risk_label": RISK_LABELS.get(c.risk_level, ""), "cues": list(c.risk_cues or []),
        "about_other": c.risk_about_other, "training": c.is_training, "returning": f.returning,
        "waiting_since": _iso(c.queued_at or c.created_at) if c.state == "waiting" else None,
        "claimed_at": _iso(c.claimed_at), "unread": f.unread, "labels": f.label_ids,
        "reply_waiting_since": _iso(reply_waiting_since(c)), "idle": evening.is_idle(c),
        "last": None if f.last_at is None else {
            "sender": f.last_sender, "text": f.last_text if f.last_text is not None else f"（{f.last_kind}）",
            "at": _iso(f.last_at), "at_label": clock.short(f.last_at)},
        "intake_labels": intake_labels(c), "counselor": c.counselor.display_name if c.counselor else None,
        "counselor_id": c.counselor_id, "organization": c.organization.slug,
        "organization_name": c.organization.name, "queue_badges": queue_badges(c, clock.now, f.transferred),
        "preferred_counselor": preferred.display_name if (preferred := _preferred(c)) else None,
    }


def _preferred(c: Consultation) -> Staff | None:
    """The counselor the user asked for (issue 10), from the session (preloaded for lists)."""
    if c.preferred_staff_id is None:
        return None
    db = Session.object_session(c)
    return db.get(Staff, c.preferred_staff_id) if db is not None else None


def reply_waiting_since(c: Consultation) -> datetime | None:
    """In a live chat, since when the user's last message waits for the counselor's answer (None: answered)."""
    if c.state != "active" or c.last_user_message_at is None:
        return None
    answered = c.last_counselor_message_at
    return c.last_user_message_at if answered is None or answered < c.last_user_message_at else None


def message(m: Any, status: str | None, clock: Clock) -> dict[str, Any]:
    return {"id": m.id, "direction": m.direction, "sender": m.sender, "kind": m.kind, "text": m.text,
            "status": status, "created_at": m.created_at.isoformat(), "time_label": clock.time(m.created_at),
            "date_label": clock.date(m.created_at), "risk": m.risk_level, "cues": list(m.risk_cues or []),
            "by": m.staff.display_name if m.sender == "counselor" and m.staff else None}


def note(n: Note, clock: Clock) -> dict[str, Any]:
    return {"id": n.id, "text": n.text, "by": n.staff.display_name, "kind": n.kind,
            "created_at": n.created_at.isoformat(), "at_label": clock.short(n.created_at)}


def transfer(db: Session, t: Transfer, clock: Clock) -> dict[str, Any]:
    """One hand-over with its note (the recipient reads why it came to them): to a colleague, or to
    another member's queue (issue 10)."""
    by = db.get(Staff, t.from_staff_id) if t.from_staff_id else None
    to_staff = db.get(Staff, t.to_staff_id) if t.to_staff_id else None
    to_org = db.get(Organization, t.to_organization_id) if t.to_organization_id and to_staff is None else None
    return {"id": t.id, "consultation_id": t.consultation_id, "from": by.display_name if by else None,
            "to": to_staff.display_name if to_staff else (to_org.name if to_org else None), "to_id": t.to_staff_id,
            "to_staff": to_staff.display_name if to_staff else None,
            "to_organization": to_org.name if to_org else None, "note": t.note,
            "created_at": t.created_at.isoformat(), "at_label": clock.short(t.created_at),
            "seen": t.seen_at is not None}


def permissions(staff: Staff, c: Consultation, *, may_see: bool, may_supervise: bool) -> dict[str, bool]:
    """What the page offers; the server checks each again when it is used."""
    mine = c.state == "active" and c.counselor_id == staff.id
    return {
        "claim": may_see and c.state == "waiting",
        "reply": mine, "transfer": mine,
        "close": c.state != "closed" and may_see and (mine or staff.role != "counselor"),
        "note": c.state != "closed" and may_see,
        "reopen": c.state == "closed" and may_see and (c.closed_by_id == staff.id or c.counselor_id == staff.id
                                                       or staff.role != "counselor"),
        "supervise": may_supervise and c.state != "closed",
        "take_over": may_supervise and c.state in ("waiting", "active") and c.counselor_id != staff.id,
        "label": may_see,
    }


def detail(db: Session, c: Consultation, now: datetime, *, clock: Clock | None = None,
           staff: Staff | None = None, may_see: bool = True, may_supervise: bool = False) -> dict[str, Any]:
    """Everything the middle and right panes show of one consultation."""
    clock = clock or Clock(now, "Asia/Tokyo")
    out = summary(db, c, now)
    out["state_label"] = STATE_LABELS.get(c.state, "")
    out["waiting_since"] = _iso(c.queued_at or c.created_at) if c.state == "waiting" else None
    out["messages"] = [message(m, status, clock) for m, status in message_repo.with_delivery(db, c.id)]
    out["notes"] = [note(n, clock) for n in workspace_repo.notes(db, c.id)]
    out["earlier"] = [{"id": e.id, "state": e.state, "state_label": STATE_LABELS.get(e.state, ""),
                       "created_at": e.created_at.isoformat(), "date_label": clock.date(e.created_at),
                       "disposition": e.disposition, "disposition_label": DISPOSITIONS.get(e.disposition or "", ""),
                       "referral_label": REFERRALS.get(e.referral or "", "")}
                      for e in workspace_repo.earlier(db, c)]
    out["transfers"] = [transfer(db, t, clock) for t in workspace_repo.transfers(db, c.id)]
    out["labels"] = label_repo.ids_on(db, c.id)
    out["label_options"] = [{"id": lab.id, "name": lab.name}
                            for lab in label_repo.for_organization(db, c.organization_id)]
    out["milestones"] = [{"kind": m.kind, "label": stats_labels.MILESTONE_LABELS.get(m.kind, m.kind),
                          "next_step": stats_labels.NEXT_STEP_LABELS.get(m.next_step or "", ""),
                          "occurred_on": m.occurred_on.isoformat()}
                         for m in milestone_repo.for_client(db, c.client_id)]
    out["routing"] = routing_history(db, c)  # every routing decision with its reason (issue 10)
    out["organization_name"] = c.organization.name
    out["claimed_at_label"] = clock.full(c.claimed_at)
    out["closed"] = None if c.state != "closed" else {
        "at_label": clock.full(c.closed_at), "reason": c.close_reason,
        "disposition": c.disposition, "disposition_label": DISPOSITIONS.get(c.disposition or "", "—"),
        "referral": c.referral, "referral_label": REFERRALS.get(c.referral or "", "")}
    out["last_message_id"] = out["messages"][-1]["id"] if out["messages"] else 0
    if staff is not None:
        out["can"] = permissions(staff, c, may_see=may_see, may_supervise=may_supervise)
    return out
