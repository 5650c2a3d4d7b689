"""The human side of a consultation: a counselor claims it, writes, and closes it.

Every message goes through the outbox (Outbound) in the same transaction as the state change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from flows import alerts, organizations, routing, texts, turns
from flows.consultation import Outbound
from flows.line_messages import postback_quick_replies, referral_card
from storage import consultations as consultation_repo
from storage import messages as message_repo
from storage import organizations as org_repo
from storage import workspace as workspace_repo
from storage.models import Consultation, Note, Organization, Staff, Transfer

DISPOSITIONS = {"continuing": "相談継続", "information": "情報提供", "referral": "紹介・リファー",
                "emergency": "緊急対応", "dropped": "中断/離脱"}
REFERRALS = {"family_association": "家族会", "regional_center": "ひきこもり地域支援センター",
             "support_station": "地域若者サポートステーション", "peer_group": "当事者会・ピアサポート",
             "ibasho": "居場所", "medical": "医療機関", "government": "行政窓口", "other": "その他"}


class HandoffError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # conflict, limit, invalid, state
        self.field = field  # the input that caused it, so the console shows the message next to it


@dataclass(frozen=True)
class Limits:
    max_active: int


def claim(session: Session, staff: Staff, consultation_id: int, now: datetime, limits: Limits) -> Consultation:
    """The limit is enforced by the claiming UPDATE itself, with the counselor's row locked: ten claims
    sent at once by one counselor cannot all pass a count taken before any of them is written."""
    limit = staff.max_active or limits.max_active
    consultation_repo.lock_staff(session, staff.id)
    before = session.get(Consultation, consultation_id)
    from_org = before.organization if before is not None else None
    was_overflowed = before is not None and before.overflow_at is not None and before.overflow_at <= now
    # The consultation becomes the claimer's organization's (routing, issue 10).
    if not consultation_repo.claim(session, consultation_id, staff.id, now, limit=limit,
                                   organization_id=staff.organization_id):
        if consultation_repo.active_count_for(session, staff.id) >= limit:
            raise HandoffError("limit", f"同時に担当できるのは{limit}件までです")
        raise HandoffError("conflict", "この相談はすでに他の相談員が担当しています")
    c = session.get(Consultation, consultation_id)
    assert c is not None
    session.refresh(c)
    if from_org is not None:
        routing.record_taken(session, c, staff, from_org, now, was_overflowed=was_overflowed)
    out = Outbound(c.client, now, consultation=c)
    out.say(texts.COUNSELOR_JOINED, kind="joined")
    out.flush(session)
    turns.notify_turns(session, now)  # whoever is next now and asked to be told hears it once
    return c


def counselor_message(session: Session, staff: Staff, c: Consultation, text: str, now: datetime) -> None:
    text = text.strip()
    if not text:
        raise HandoffError("invalid", "メッセージが空です")
    if c.state != "active" or c.counselor_id != staff.id:
        raise HandoffError("state", "担当中の相談にだけ返信できます")
    out = Outbound(c.client, now, consultation=c, sender="counselor", staff_id=staff.id)
    out.say(text, kind="text")
    out.flush(session)
    c.last_counselor_message_at = now


def transfer(session: Session, staff: Staff, c: Consultation, to: Staff, note: str | None, now: datetime,
             limits: Limits | None = None) -> None:
    """Hand an active consultation to another counselor, within the recipient's limit (checked atomically)."""
    if c.state != "active" or c.counselor_id != staff.id:
        raise HandoffError("state", "担当中の相談だけ引き継げます")
    limit = _limit(to, limits)
    consultation_repo.lock_staff(session, to.id)
    if not consultation_repo.reassign(session, c.id, staff.id, to.id, limit=limit):
        session.refresh(c)
        if c.state != "active" or c.counselor_id != staff.id:
            raise HandoffError("state", "担当中の相談だけ引き継げます")
        raise HandoffError("limit", f"引き継ぎ先の相談員はすでに{limit}件を担当しています")
    session.add(Transfer(consultation_id=c.id, from_staff_id=staff.id, to_staff_id=to.id,
                         to_organization_id=to.organization_id, note=note, created_at=now))
    _log(session, c, f"{staff.display_name}さんから{to.display_name}さんに引き継ぎました", staff, now)
    session.refresh(c)
    out = Outbound(c.client, now, consultation=c)
    out.say(texts.TRANSFERRED_TO_COLLEAGUE, kind="transfer")
    out.flush(session)


def transfer_to_member(session: Session, staff: Staff, c: Consultation, to: Organization, note: str | None,
                       now: datetime, overflow_after: timedelta) -> None:
    """Hand a consultation to another member organization's queue (issue 10): the note goes with it for
    the recipient, the history stays (a Transfer row and a routing decision), and the user is told gently.

    The holder of an active consultation may hand it on; a waiting one, anyone who may see it (the caller
    checks that). It keeps its place in the fair order (the user has waited all along) and overflows to
    every member after `overflow_after` from now, like any routed consultation."""
    if c.state == "active" and c.counselor_id != staff.id:
        raise HandoffError("state", "担当中の相談は、担当の相談員だけが引き継げます")
    if c.state not in ("waiting", "active"):
        raise HandoffError("state", "待機中か担当中の相談だけ引き継げます")
    if not to.active or to.is_default or to.id == c.organization_id:
        raise HandoffError("invalid", "引き継ぎ先には、いま受け付けている別の団体を選んでください", "to_organization")
    from_staff = c.counselor_id
    c.state, c.counselor_id, c.preferred_staff_id = "waiting", None, None
    c.organization_id, c.organization = to.id, to
    c.overflow_at, c.overflowed_at = now + overflow_after, None
    session.add(Transfer(consultation_id=c.id, from_staff_id=staff.id, to_staff_id=None, to_organization_id=to.id,
                         note=note, created_at=now))
    org_repo.record_decision(session, c.id, routing.TRANSFER, "transfer", now, organization_id=to.id,
                             staff_id=staff.id)
    message_repo.add(session, client_id=c.client_id, consultation_id=c.id, direction="out", sender="system",
                     kind="notice", text=texts.NOTICE_TRANSFERRED_TO_MEMBER.format(name=to.name), now=now,
                     staff_id=staff.id)
    out = Outbound(c.client, now, consultation=c)
    out.say(texts.TRANSFERRED_TO_MEMBER, kind="transfer")
    out.flush(session)
    session.flush()
    if from_staff is not None:
        turns.notify_turns(session, now)


# A member organization's kind -> the referral category the statistics count (storage/stats.py).
REFERRAL_OF_KIND = {"family_association": "family_association", "regional_center": "regional_center",
                    "youth_support_station": "support_station", "peer_group": "peer_group", "ibasho": "ibasho",
                    "npo": "other", "other": "other"}


def _limit(staff: Staff, limits: Limits | None) -> int:
    return staff.max_active or (limits.max_active if limits else 10**6)


def _log(session: Session, c: Consultation, text: str, staff: Staff, now: datetime) -> None:
    """A line in the conversation's record that only staff see (never sent to the user)."""
    message_repo.add(session, client_id=c.client_id, consultation_id=c.id, direction="out", sender="system",
                     kind="notice", text=text, now=now, staff_id=staff.id)


def take_over(session: Session, supervisor: Staff, c: Consultation, now: datetime, limits: Limits) -> None:
    """A supervisor takes a live consultation: a waiting one is claimed; an active one moves from its
    counselor to the supervisor (recorded as a transfer, so the counselor is told), within the
    supervisor's own limit, checked atomically like a claim."""
    if c.state == "waiting":
        claim(session, supervisor, c.id, now, limits)
        session.refresh(c)
        return
    if c.state != "active" or c.counselor_id is None:
        raise HandoffError("state", "対応中か待機中の相談だけ引き取れます")
    if c.counselor_id == supervisor.id:
        raise HandoffError("state", "すでにあなたが担当しています")
    previous = c.counselor
    limit = _limit(supervisor, limits)
    consultation_repo.lock_staff(session, supervisor.id)
    if not consultation_repo.reassign(session, c.id, c.counselor_id, supervisor.id, limit=limit):
        session.refresh(c)
        if c.state != "active":
            raise HandoffError("state", "対応中か待機中の相談だけ引き取れます")
        raise HandoffError("limit", f"同時に担当できるのは{limit}件までです")
    session.add(Transfer(consultation_id=c.id, from_staff_id=previous.id if previous else None,
                         to_staff_id=supervisor.id, to_organization_id=supervisor.organization_id,
                         note="スーパーバイザーが引き取りました", created_at=now))
    _log(session, c, f"{supervisor.display_name}さんが引き取りました", supervisor, now)
    session.refresh(c)


def reopen(session: Session, staff: Staff, c: Consultation, reason: str, now: datetime, limits: Limits) -> None:
    """Staff reopen a closed consultation, giving a reason (kept as a note); it becomes theirs again,
    within their limit. Refused when the client has started another consultation since."""
    reason = reason.strip()
    if not reason:
        raise HandoffError("invalid", "再開する理由を書いてください。", "reason")
    if c.state != "closed":
        raise HandoffError("state", "終了した相談だけ再開できます")
    limit = _limit(staff, limits)
    consultation_repo.lock_staff(session, staff.id)
    outcome = workspace_repo.reopen(session, c.id, staff.id, now, limit=limit)
    if outcome == "open_elsewhere":
        raise HandoffError("state", "この相談者には新しい相談が始まっています。そちらを開いてください。")
    if outcome == "limit":
        raise HandoffError("limit", f"同時に担当できるのは{limit}件までです")
    if outcome != "reopened":
        raise HandoffError("state", "終了した相談だけ再開できます")
    session.refresh(c)
    session.add(Note(consultation_id=c.id, staff_id=staff.id, text=reason, created_at=now, kind="reopen"))
    _log(session, c, f"{staff.display_name}さんが相談を再開しました", staff, now)


def release_all(session: Session, staff: Staff, now: datetime) -> list[Consultation]:
    """Everything a staff member holds goes back to the queue (their account was disabled), shown to every
    member at once: the user is told the counselor is changing, and one at risk alerts everyone again."""
    released = []
    for c in workspace_repo.active_of(session, staff.id):
        c.state, c.counselor_id = "waiting", None
        c.queued_at = c.queued_at or now
        c.overflow_at = now  # every member's counselors see it at once: the user was mid-conversation
        if c.risk_rank >= consultation_repo.AT_RISK_RANK:
            alerts.raise_alert(c, now)
        out = Outbound(c.client, now, consultation=c)
        out.say(texts.COUNSELOR_CHANGING, kind="notice")
        out.flush(session)
        _log(session, c, f"{staff.display_name}さんの担当を外れ、待機に戻りました", staff, now)
        released.append(c)
    return released


def close(session: Session, staff: Staff, c: Consultation, disposition: str, referral: str | None,
          now: datetime, *, survey: bool = True, referral_org: Organization | None = None) -> None:
    """Close (by staff). With `referral_org`, a member the person is referred to: its referral card goes to
    the user with the closing words (one click), and the referral is recorded for statistics."""
    if referral_org is not None:
        if disposition != "referral":
            raise HandoffError("invalid", "案内カードは「紹介・リファー」で終了するときに送れます。", "referral_org")
        if organizations.referral_card(referral_org) is None:
            raise HandoffError("invalid", "この団体には案内カードがありません。", "referral_org")
        referral = referral or REFERRAL_OF_KIND.get(referral_org.kind, "other")
    if disposition not in DISPOSITIONS:
        raise HandoffError("invalid", "終了の区分を選んでください。", "disposition")
    if disposition == "referral" and referral not in REFERRALS:
        raise HandoffError("invalid", "紹介・リファーのときは紹介先を選んでください。", "referral")
    if c.state == "closed":
        raise HandoffError("state", "この相談はすでに終了しています")
    c.state, c.closed_at, c.close_reason = "closed", now, "counselor"
    c.disposition, c.referral, c.closed_by_id = disposition, referral if disposition == "referral" else None, staff.id
    c.referral_organization_id = referral_org.id if referral_org is not None else None
    out = Outbound(c.client, now, consultation=c)
    if referral_org is not None:
        out.say(texts.REFERRAL_INTRO, kind="referral")
        out.add(_card(referral_org), "referral_card", texts.REFERRAL_ALT.format(name=referral_org.name))
    out.say(texts.CLOSING, kind="closing")
    if survey:
        items = [(label, f"survey={code}&c={c.id}") for code, label in texts.SURVEY_LABELS.items()]
        out.add(postback_quick_replies(texts.SURVEY, items), "survey", texts.SURVEY)
    out.flush(session)
    message_repo.add(session, client_id=c.client_id, consultation_id=c.id, direction="out", sender="system",
                     kind="notice", text=f"相談を終了しました（{DISPOSITIONS[disposition]}）", now=now,
                     staff_id=staff.id)


def _card(org: Organization) -> dict:
    card = organizations.referral_card(org)
    assert card is not None
    url = card.get("url")
    return referral_card(alt_text=texts.REFERRAL_ALT.format(name=card["name"]), name=card["name"],
                         sections=[(texts.REFERRAL_WHAT, card.get("what", "")),
                                   (texts.REFERRAL_CONTACT, card.get("contact", "")),
                                   (texts.REFERRAL_HOURS, card.get("hours", ""))],
                         link=(texts.REFERRAL_LINK, url) if url else None)
