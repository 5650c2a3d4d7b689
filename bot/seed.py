"""The sample consortium: member organizations and a few canned replies (定型文). Idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.consultations import ensure_default_organization, organization_by_slug
from storage.models import CannedReply, Organization

SAMPLE_ORGANIZATIONS = [
    # slug, name, kind
    ("kazokukai", "ひきこもり家族会 つなぐの会", "family_association"),
    ("npo-ibasho", "NPO法人 居場所ネット", "npo"),
    ("center", "ひきこもり地域支援センター", "regional_center"),
]

SAMPLE_CANNED = [
    ("はじめのあいさつ", "はじめまして。相談員の者です。メッセージを読ませていただきました。"
                         "ここまで書いてくださって、ありがとうございます。"),
    ("ゆっくりで大丈夫", "お返事はゆっくりで大丈夫です。書ける範囲で教えてください。"),
    ("家族会の紹介", "同じ立場のご家族が集まる「家族会」があります。よろしければ、日程や場所をお伝えできます。"),
    ("サポステの紹介", "働くことについては、地域若者サポートステーション（サポステ）で、"
                       "無理のないペースで相談できます。"),
    ("終わりのあいさつ", "今日はお話ししてくださってありがとうございました。またいつでも話しかけてください。"),
]


def seed_sample_consortium(session: Session, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    default = ensure_default_organization(session, now, slug="center", name="ひきこもり地域支援センター")
    added = []
    for slug, name, kind in SAMPLE_ORGANIZATIONS:
        org = organization_by_slug(session, slug)
        if org is None:
            session.add(Organization(slug=slug, name=name, kind=kind, created_at=now))
            added.append(slug)
    if session.scalar(select(CannedReply.id).limit(1)) is None:
        for order, (title, text) in enumerate(SAMPLE_CANNED):
            session.add(CannedReply(title=title, text=text, sort_order=order, created_at=now))
    session.flush()
    return f"default organization: {default.slug}; added: {', '.join(added) or 'nothing new'}"
