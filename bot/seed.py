"""The sample consortium: member organizations, routing rules (a TOML file) and a few canned replies (定型文).

Idempotent: seeding twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.organizations import SAMPLE_FILE, load_sample
from storage.consultations import ensure_default_organization
from storage.models import CannedReply

# The member organizations and routing rules live in flows/consortium.sample.toml (issue 10).
SAMPLE_CONSORTIUM = SAMPLE_FILE

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
    """The sample consortium file (members, routing rules) and a few canned replies. Idempotent."""
    now = now or datetime.now(UTC)
    default = ensure_default_organization(session, now)
    report = load_sample(session, now)
    if session.scalar(select(CannedReply.id).limit(1)) is None:
        for order, (title, text) in enumerate(SAMPLE_CANNED):
            session.add(CannedReply(title=title, text=text, sort_order=order, created_at=now))
    session.flush()
    return f"shared queue: {default.slug}; {report.summary()}"
