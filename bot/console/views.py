"""What the console shows of a consultation: pseudonyms and codes, never a LINE user ID."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows import evening, texts
from flows.intake import area_label
from storage import messages as message_repo
from storage.models import Consultation, Note

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
    }


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
    return out
