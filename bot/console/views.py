"""What the console shows of a consultation: pseudonyms and codes, never a LINE user ID."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console import texts as console_texts
from flows import evening, texts
from flows.intake import area_label
from storage import messages as message_repo
from storage import organizations as org_repo
from storage.models import Consultation, Note, Organization, Staff, Transfer

RISK_LABELS = {"none": "", "moderate": "注意", "high": "高リスク", "imminent": "緊急"}


def intake(c: Consultation) -> dict[str, Any]:
    return {"who": c.who, "age_band": c.age_band, "area": c.area, "concern": c.concern}


def intake_labels(c: Consultation) -> dict[str, str]:
    return {"who": texts.WHO_LABELS.get(c.who or "", "—"), "age_band": texts.AGE_LABELS.get(c.age_band or "", "—"),
            "area": area_label(c.area) or "—", "concern": texts.CONCERN_LABELS.get(c.concern or "", "—")}


def returning(db: Session, c: Consultation) -> bool:
    earlier = select(func.count()).select_from(Consultation).where(Consultation.client_id == c.client_id,
                                                                    Consultation.id < c.id)
    return (db.scalar(earlier) or 0) > 0


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
        if db.scalar(select(func.count()).select_from(Transfer).where(Transfer.consultation_id == c.id)):
            badges.append(console_texts.QUEUE_TRANSFERRED)
    preferred = db.get(Staff, c.preferred_staff_id) if c.preferred_staff_id else None
    return {"organization_name": c.organization.name, "queue_badges": badges,
            "preferred_counselor": preferred.display_name if preferred else None,
            "overflow_at": c.overflow_at.isoformat() if c.overflow_at else None}


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


def transfers(db: Session, c: Consultation) -> list[dict[str, Any]]:
    """The transfer history with each note (the recipient reads why it came to them)."""
    rows = db.scalars(select(Transfer).where(Transfer.consultation_id == c.id).order_by(Transfer.id))
    out = []
    for t in rows:
        by, to_staff = db.get(Staff, t.from_staff_id) if t.from_staff_id else None, (
            db.get(Staff, t.to_staff_id) if t.to_staff_id else None)
        to_org = db.get(Organization, t.to_organization_id) if t.to_organization_id else None
        out.append({"from": by.display_name if by else None, "to_staff": to_staff.display_name if to_staff else None,
                    "to_organization": to_org.name if to_org else None, "note": t.note,
                    "created_at": t.created_at.isoformat()})
    return out


def alert(db: Session, c: Consultation, now: datetime) -> dict[str, Any]:
    """One console alert: `key` changes with each new alert (escalation or re-alert), so a page sounds once
    per key; pseudonym and cue names only."""
    out = summary(db, c, now)
    out["alert_count"] = c.alert_count
    out["alerted_at"] = c.alerted_at.isoformat() if c.alerted_at else None
    out["key"] = f"{c.id}:{c.alert_count}"
    return out


def detail(db: Session, c: Consultation, now: datetime) -> dict[str, Any]:
    out = summary(db, c, now)
    out["messages"] = [
        {"id": m.id, "direction": m.direction, "sender": m.sender, "kind": m.kind, "text": m.text,
         "status": status, "created_at": m.created_at.isoformat(), "risk": m.risk_level,
         "cues": list(m.risk_cues or [])}
        for m, status in message_repo.with_delivery(db, c.id)
    ]
    out["notes"] = [{"id": n.id, "text": n.text, "by": n.staff.display_name, "created_at": n.created_at.isoformat()}
                    for n in db.scalars(select(Note).where(Note.consultation_id == c.id).order_by(Note.id))]
    out["earlier"] = [{"id": e.id, "state": e.state, "created_at": e.created_at.isoformat(),
                       "disposition": e.disposition}
                      for e in db.scalars(select(Consultation).where(Consultation.client_id == c.client_id,
                                                                     Consultation.id != c.id)
                                          .order_by(Consultation.id))]
    out["routing"] = routing_history(db, c)
    out["transfers"] = transfers(db, c)
    return out
