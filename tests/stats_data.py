"""A hand-built dataset for the statistics tests, every figure worked out by hand (see EXPECTED).

Fiscal year 2025 runs from 2025-04-01 00:00 JST (2025-03-31 15:00 UTC) to 2026-04-01 00:00 JST.
Waits (claimed - queued, seconds) of the FY2025 answered consultations:
    60, 60, 120, 180, 240, 300, 400, 600, 900  -> median 240, p90 = 600 + 0.2 * 300 = 660
First response = wait + 30: median 270, p90 690.
Lengths (closed - claimed): 500, 600, 700, 1000, 1200, 1500, 1800, 2400, 3000 -> median 1200, p90 2520.
Crisis (high/imminent) to a human: c7 400 s, c8 0 (a counselor was already there), c9 never -> median 200,
p90 360, 1 of 3 within 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import friends as friend_repo
from storage import messages as message_repo
from storage import milestones as milestone_repo
from storage import staff as staff_repo
from storage.models import Client, Consultation, Note, Organization, Staff

JST = timezone(timedelta(hours=9))
PASSWORD = "correct horse battery"
SECRET_NOTE = "メモ本文-秘密のメモ"
SECRET_MESSAGE = "本文-とても個人的な話"
LINE_ID = "U" + "f" * 32


_HASH: list[str] = []


def _password_hash() -> str:
    if not _HASH:
        _HASH.append(staff_repo._hasher.hash(PASSWORD))
    return _HASH[0]


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JST).astimezone(UTC)


@dataclass
class Built:
    orgs: dict[str, Organization]
    cids: dict[str, int]
    clients: dict[str, int]


def build(db: Session, now: datetime) -> Built:
    orgs = {}
    for slug, name in (("org-a", "家族会A"), ("org-b", "NPO法人B")):
        orgs[slug] = Organization(slug=slug, name=name, kind="npo", created_at=now)
        db.add(orgs[slug])
    db.flush()
    a, b = orgs["org-a"], orgs["org-b"]
    staff = {}
    people = (("counselor-x", "counselor", a, "相談員X"), ("counselor-y", "counselor", a, "相談員Y"),
              ("counselor-z", "counselor", b, "相談員Z"), ("coord-a", "coordinator", a, "調整役A"),
              ("coord-b", "coordinator", b, "調整役B"), ("consortium", "consortium", a, "事務局"))
    for login, role, org, name in people:
        # One argon2 hash for the whole test session: hashing is slow on purpose.
        staff[login] = Staff(login=login, display_name=name, role=role, organization_id=org.id,
                             password_hash=_password_hash(), created_at=now)
        db.add(staff[login])
    db.flush()
    clients: dict[str, Client] = {}

    def client(key: str, training: bool = False) -> Client:
        if key not in clients:
            clients[key] = Client(user_hash=f"hash-{key}", line_user_id=LINE_ID if key == "k1" else None,
                                  pseudonym=f"相談者-{key.upper()}", is_friend=True, first_seen_at=now,
                                  last_seen_at=now, is_training=training)
            db.add(clients[key])
            db.flush()
        return clients[key]

    cids: dict[str, int] = {}

    def consultation(name: str, org: Organization, created: datetime, *, who: str | None = None,
                     age: str | None = None, area: str = "札幌市", concern: str = "work", client_key: str | None = None,
                     queued_after: int | None = 120, wait: int | None = None, length: int | None = None,
                     counselor: str | None = None, disposition: str | None = None, referral: str | None = None,
                     survey: str | None = None, risk: str = "none", flagged_after: int = 0, close_reason: str = "",
                     training: bool = False, first_response: bool = True) -> Consultation:
        cl = client(client_key or name, training)
        queued = created + timedelta(seconds=queued_after) if queued_after is not None else None
        c = Consultation(client_id=cl.id, organization_id=org.id, state="closed", is_training=training,
                         flow_data={}, risk_cues=[], risk_topics=[], created_at=created, queued_at=queued,
                         who=who if queued else None, age_band=age if queued else None,
                         area=area if queued else None, concern=concern if queued else None,
                         risk_level=risk, risk_rank={"none": 0, "moderate": 1, "high": 2, "imminent": 3}[risk],
                         risk_flagged_at=created + timedelta(seconds=flagged_after) if risk != "none" else None)
        if wait is not None and queued is not None:
            c.claimed_at = queued + timedelta(seconds=wait)
            c.counselor_id = staff[counselor or "counselor-x"].id
            c.closed_at = c.claimed_at + timedelta(seconds=length or 600)
            c.close_reason = "counselor"
            c.disposition, c.referral, c.survey = disposition or "continuing", referral, survey
        else:
            c.closed_at = created + timedelta(hours=1)
            c.close_reason = close_reason or "user_withdrew"
        db.add(c)
        db.flush()
        cids[name] = c.id
        if c.claimed_at is not None and first_response:
            # Stored out of order on purpose: the rollup keeps the earliest counselor message.
            for after in (100, 30):
                message_repo.add(db, client_id=cl.id, consultation_id=c.id, direction="out", sender="counselor",
                                 staff_id=c.counselor_id, text="相談員の返信",
                                 now=c.claimed_at + timedelta(seconds=after))
        message_repo.add(db, client_id=cl.id, consultation_id=c.id, direction="in", sender="user",
                         text=SECRET_MESSAGE, now=created)
        return c

    # FY2025 (non-training, queued): 11 consultations.
    c1 = consultation("c1", a, jst(2025, 4, 1, 0, 0, 0), who="self", age="20s", client_key="k1", wait=60,
                      length=1200, counselor="counselor-x", disposition="referral", referral="family_association",
                      survey="good")
    consultation("c2", a, jst(2025, 6, 10, 23, 30), who="self", age="20s", wait=120, length=1800,
                 counselor="counselor-x", disposition="referral", referral="support_station", survey="ok")
    consultation("c3", a, jst(2025, 6, 11, 0, 10), who="family", age="40s", area="旭川市", wait=180, length=600,
                 counselor="counselor-y", disposition="referral", referral="government")
    consultation("c4", b, jst(2025, 9, 15, 17, 0), who="family", age="40s", concern="family", wait=240,
                 length=2400, counselor="counselor-z", disposition="information", survey="bad")
    consultation("c5", b, jst(2026, 3, 31, 23, 59, 59), who="other", age="30s", client_key="k5", queued_after=0,
                 wait=600, length=3000, counselor="counselor-z", disposition="referral", referral="medical")
    consultation("c6", a, jst(2025, 7, 1, 18, 0), who="self", age="30s")  # left before being answered
    consultation("c7", b, jst(2025, 7, 2, 18, 0), who="self", age="10s", risk="imminent", queued_after=0, wait=400,
                 length=1000, counselor="counselor-z", disposition="emergency")
    consultation("c8", a, jst(2025, 8, 1, 19, 0), who="family", age="50plus", risk="high", flagged_after=100,
                 queued_after=0, wait=60, length=500, counselor="counselor-y", disposition="emergency")
    consultation("c9", a, jst(2025, 8, 2, 19, 0), who="self", age="20s", risk="high", queued_after=0,
                 close_reason="blocked")
    consultation("c10", b, jst(2025, 10, 1, 18, 0), who="other", age="20s", concern="health", risk="moderate",
                 wait=900, length=700, counselor="counselor-z")
    consultation("c13", a, jst(2025, 5, 5, 18, 0), who="self", age="20s", client_key="k1", wait=300, length=1500,
                 counselor="counselor-x")
    # Left out of FY2025: training, an intake that never reached the queue, and the boundaries.
    c11 = consultation("c11", a, jst(2025, 6, 12, 18, 0), who="self", age="20s", wait=5, length=100,
                       counselor="counselor-x", training=True, client_key="kt")
    consultation("c12", a, jst(2025, 3, 1, 18, 0), queued_after=None, close_reason="intake_expired", client_key="c4")
    consultation("prev", a, jst(2025, 3, 31, 23, 59, 59), who="other", age="30s", client_key="k5", wait=10,
                 length=100, counselor="counselor-x")
    c_next = consultation("next", b, jst(2026, 4, 1, 0, 0, 0), who="self", age="20s", client_key="c3", wait=10,
                          length=100, counselor="counselor-z")

    db.add(Note(consultation_id=c1.id, staff_id=staff["counselor-x"].id, text=SECRET_NOTE, created_at=now))
    # Milestones (JST dates): counted once per client and kind in the period.
    for cons, kind, on, step in ((c1, "group_program", date(2025, 5, 1), None),
                                 (c1, "group_program", date(2025, 6, 1), None),
                                 (c1, "family_association", date(2025, 4, 1), None),
                                 (db.get(Consultation, cids["c2"]), "group_program", date(2025, 7, 1), None),
                                 (db.get(Consultation, cids["c5"]), "next_step", date(2026, 3, 31), "work"),
                                 (c_next, "job_search", date(2026, 4, 1), None),
                                 (c11, "support_station", date(2025, 6, 12), None)):
        milestone_repo.record(db, cons, kind, on, now, staff_id=None, next_step=step)
    # Messages sent while closed (no consultation): 3 from 2 clients in FY2025, 1 before it, 1 in training.
    for key, when in (("c4", jst(2025, 5, 1, 3, 0)), ("c4", jst(2025, 5, 1, 3, 5)), ("c6", jst(2025, 12, 1, 8, 0)),
                      ("c6", jst(2025, 3, 31, 23, 0)), ("kt", jst(2025, 6, 12, 3, 0))):  # kt: training
        message_repo.add(db, client_id=clients[key].id, consultation_id=None, direction="in", sender="user",
                         text=SECRET_MESSAGE, now=when)
    return Built(orgs, cids, {k: v.id for k, v in clients.items()})


EXPECTED: dict[str, Any] = {
    "total": 11, "returning": 2, "first_time": 9, "clients": 10,
    "by_who": {"self": 6, "family": 3, "other": 2},
    "waits": [60, 60, 120, 180, 240, 300, 400, 600, 900],
    "wait": {"n": 9, "median": 240.0, "p90": 660.0},
    "first_response": {"n": 9, "median": 270.0, "p90": 690.0},
    "length": {"n": 9, "median": 1200.0, "p90": 2520.0},
    "referrals": {"family_association": 1, "regional_center": 0, "support_station": 1, "peer_group": 0,
                  "ibasho": 0, "medical": 1, "other": 1},
}


def spread(db: Session, built: Built, n: int = 600, seed: int = 7) -> None:
    """Extra consultations over FY2025 (for the charts in the browser screenshot; not for exact figures)."""
    import random

    rnd = random.Random(seed)
    orgs = list(built.orgs.values())
    staff_ids = list(db.scalars(select(Staff.id).where(Staff.role == "counselor")))
    for i in range(n):
        cl = Client(user_hash=f"hash-spread-{i}", pseudonym=f"相談者-S{i:04d}", is_friend=True,
                    first_seen_at=jst(2025, 4, 1), last_seen_at=jst(2025, 4, 1))
        db.add(cl)
        db.flush()
        late = 1 if rnd.random() < 0.9 else 3  # some outside 16:00-21:00
        created = jst(2025, 4, 1, 16, 0) + timedelta(days=rnd.randrange(365), minutes=rnd.randrange(300) * late)
        queued = created + timedelta(seconds=rnd.randrange(60, 300))
        friend_repo.record(db, cl.id, "follow", created - timedelta(hours=rnd.randrange(1, 200)))
        if rnd.random() < 0.1:
            friend_repo.record(db, cl.id, "block", created + timedelta(days=rnd.randrange(1, 30)))
        answered = rnd.random() < 0.85
        claimed = queued + timedelta(seconds=rnd.expovariate(1 / 600)) if answered else None
        disposition = rnd.choice(["continuing", "information", "referral", "referral"]) if answered else None
        referral = rnd.choice(["family_association", "regional_center", "support_station", "peer_group", "ibasho",
                               "medical", "other"]) if disposition == "referral" else None
        c = Consultation(client_id=cl.id, organization_id=rnd.choice(orgs).id, state="closed", flow_data={},
                         risk_cues=[], risk_topics=[], created_at=created, queued_at=queued, claimed_at=claimed,
                         closed_at=(claimed or queued) + timedelta(minutes=rnd.randrange(10, 90)),
                         counselor_id=rnd.choice(staff_ids) if answered else None,
                         close_reason="counselor" if answered else "user_withdrew", disposition=disposition,
                         referral=referral, who=rnd.choice(["self", "self", "family", "other"]),
                         age_band=rnd.choice(["10s", "20s", "30s", "40s", "50plus"]), area="札幌市",
                         concern=rnd.choice(["work", "family", "health"]))
        db.add(c)
        db.flush()
        if rnd.random() < 0.2:
            milestone_repo.record(db, c, rnd.choice(["group_program", "family_association", "support_station",
                                                     "job_search"]), created.astimezone(JST).date(), created,
                                  staff_id=None)
