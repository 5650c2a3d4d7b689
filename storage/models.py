"""The data model: plain SQLAlchemy 2 typed models, no behaviour beyond small helpers.

Times are stored in UTC. SQLite hands `DateTime(timezone=True)` back naive, so every datetime
column uses `UTCDateTime`, which attaches UTC on the way out and refuses naive values on the way in.

Anonymity: the LINE user ID lives only in `Client.line_user_id`, kept solely so a push can reach the
user, and cleared when they block the account. Everything staff see goes through `Client.pseudonym`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """An aware-UTC datetime on every database (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        # SQLite stores text; keep it naive-UTC so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# --- consortium ---------------------------------------------------------------------------------


class Organization(Base):
    """A member organization of the consortium; every consultation sits in one organization's queue."""

    __tablename__ = "organizations"
    __table_args__ = (
        # At most one default organization (the one whose queue takes new consultations).
        Index("uq_organizations_one_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="npo")  # family_association, npo, regional_center
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    # --- routing (issue 10): the member as data (flows/organizations.py reads and checks these) ---
    takes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # who/age_bands/areas/concerns; empty = any
    evenings: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"weekdays": [...], "hours": [...]}]
    closed_dates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO dates with nobody on duty
    capacity: Mapped[int | None] = mapped_column(Integer)  # consultations waiting or active at once; None = any
    referral_card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what, contact, hours, url
    updated_at: Mapped[datetime | None]
    # --- end routing


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))  # counselor, coordinator, consortium (stats of all members), admin
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active: Mapped[int | None] = mapped_column(Integer)  # per-person override of the setting
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    organization: Mapped[Organization] = relationship()


# --- users and consultations ----------------------------------------------------------------------


class Client(Base):
    """One anonymous LINE user (a person in withdrawal, a family member, or someone else)."""

    __tablename__ = "clients"
    __table_args__ = (Index("ix_clients_training", "id", postgresql_where=text("is_training"),
                            sqlite_where=text("is_training")),  # the few practice users, for stats
                      # --- evening clock (issue 10): the few who asked to hear when the line opens
                      Index("ix_clients_opening_notice", "opening_notice_requested_at",
                            postgresql_where=text("opening_notice_requested_at IS NOT NULL"),
                            sqlite_where=text("opening_notice_requested_at IS NOT NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_hash: Mapped[str] = mapped_column(String(64), unique=True)  # keyed hash of the LINE user ID
    line_user_id: Mapped[str | None] = mapped_column(String(64))  # only for push; cleared on block
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    is_friend: Mapped[bool] = mapped_column(Boolean, default=False)
    followed_at: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]
    consented_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    last_hours_notice_at: Mapped[datetime | None]  # so a closed-hours reply is not repeated each message
    is_training: Mapped[bool] = mapped_column(Boolean, default=False)
    # --- evening clock (issue 10)
    opening_notice_requested_at: Mapped[datetime | None]  # 「開いたら知らせて」 outside hours; the push clears it


class Consultation(Base):
    """One conversation: intake -> waiting -> active -> closed, with a timestamp for each step."""

    __tablename__ = "consultations"
    __table_args__ = (
        Index("ix_consultations_queue", "state", "risk_rank", "queued_at"),
        # At most one open consultation per client, enforced by the database (not only by code).
        Index("uq_consultations_one_open_per_client", "client_id", unique=True,
              sqlite_where=text("state != 'closed'"), postgresql_where=text("state != 'closed'")),
        Index("ix_consultations_stats_created", "created_at", "organization_id"),
        # Stats, a period's queued consultations read from the index alone: per day, weekday × hour, and
        # distinct clients with the first-queued rollup (returning or not).
        Index("ix_consultations_stats_period", "created_at", "is_training", "organization_id", "client_id",
              "client_first_queued_at",
              postgresql_where=text("queued_at IS NOT NULL"), sqlite_where=text("queued_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    _sentinel: Mapped[int | None] = orm_insert_sentinel()  # one INSERT per table for a batch (m2_11)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # intake, waiting, active, closed
    is_training: Mapped[bool] = mapped_column(Boolean, default=False)

    # Intake flow position: durable, with an expiry column polled by a job (no in-memory timers).
    flow_name: Mapped[str | None] = mapped_column(String(40))
    flow_step: Mapped[str | None] = mapped_column(String(40))
    flow_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flow_expires_at: Mapped[datetime | None]

    # Intake answers, as codes (labels live in flows/texts.py); what stats group by.
    who: Mapped[str | None] = mapped_column(String(20))
    age_band: Mapped[str | None] = mapped_column(String(20))
    area: Mapped[str | None] = mapped_column(String(80))
    concern: Mapped[str | None] = mapped_column(String(20))

    # Triage: the highest level seen in this consultation and why.
    risk_level: Mapped[str] = mapped_column(String(10), default="none")
    risk_rank: Mapped[int] = mapped_column(Integer, default=0)  # 0 none .. 3 imminent, for queue order
    risk_cues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    risk_topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    risk_flagged_at: Mapped[datetime | None]
    emergency_sent_at: Mapped[datetime | None]
    risk_about_other: Mapped[bool] = mapped_column(Boolean, default=False)  # reported by family/friend
    alerted_at: Mapped[datetime | None]  # last console alert for an at-risk consultation nobody claimed
    alert_count: Mapped[int] = mapped_column(Integer, default=0)  # alerts so far (1 = first, 2+ = re-alerts)

    counselor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)

    created_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_user_message_at: Mapped[datetime | None]
    last_counselor_message_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]  # the counselor's first message (a min-rollup for stats)
    # Stats rollup kept by triggers (storage/rollups.py): when the client's first queued consultation of
    # the same training class was created; set on queued rows only. "Returning" = before the period.
    client_first_queued_at: Mapped[datetime | None]
    waiting_notice_at: Mapped[datetime | None]  # last "still waiting" note to the user
    waiting_ack_at: Mapped[datetime | None]  # last "received, please wait" reply

    close_reason: Mapped[str | None] = mapped_column(String(30))  # counselor, user_ended, intake_expired…
    disposition: Mapped[str | None] = mapped_column(String(20))
    referral: Mapped[str | None] = mapped_column(String(30))
    survey: Mapped[str | None] = mapped_column(String(10))  # good, ok, bad
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    # --- evening clock (issue 10)
    closing_notice_at: Mapped[datetime | None]  # last "we close at 21:00" note to a waiting user
    idle_prompted_at: Mapped[datetime | None]  # last "the user has gone quiet" prompt to the counselor
    read_token: Mapped[str | None] = mapped_column(String(512))  # the user's latest markAsReadToken, until used
    loading_shown_at: Mapped[datetime | None]  # last loading animation shown while the counselor types
    # --- routing (issue 10) ---
    queue_key: Mapped[datetime | None]  # fair order among the not-at-risk: queued_at less the risk head start
    overflow_at: Mapped[datetime | None]  # from then on every member sees it (routing + OVERFLOW_MINUTES)
    overflowed_at: Mapped[datetime | None]  # when the overflow was recorded as a routing decision
    preferred_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # "same counselor as last time"
    notify_requested_at: Mapped[datetime | None]  # the user asked to be told when it is their turn
    notified_at: Mapped[datetime | None]  # ... and was told (once)
    referral_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    # --- end routing

    client: Mapped[Client] = relationship()
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    counselor: Mapped[Staff | None] = relationship(foreign_keys=[counselor_id])


UNATTACHED = "consultation_id IS NULL AND direction = 'in' AND sender = 'user'"


class Message(Base):
    """Every message in or out. `text` is purged on the retention schedule; the row stays for stats."""

    __tablename__ = "messages"
    # Stats: what users sent while the service was closed (stored outside any consultation).
    __table_args__ = (Index("ix_messages_unattached", "created_at", "client_id",
                            postgresql_where=text(UNATTACHED), sqlite_where=text(UNATTACHED)),)

    id: Mapped[int] = mapped_column(primary_key=True)
    _sentinel: Mapped[int | None] = orm_insert_sentinel()  # one INSERT per table for a batch (m2_11)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    sender: Mapped[str] = mapped_column(String(10))  # user, bot, counselor
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text, sticker, image, …, emergency
    text: Mapped[str | None] = mapped_column(Text)
    text_purged_at: Mapped[datetime | None]
    risk_level: Mapped[str | None] = mapped_column(String(10))
    risk_cues: Mapped[list[Any] | None] = mapped_column(JSON)  # triage cue names (never the user's words)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime] = mapped_column(index=True)

    staff: Mapped[Staff | None] = relationship()
    outbox: Mapped[OutboxMessage | None] = relationship()  # set before the row has an id; one flush writes both
    # Likewise: a message can name its consultation before that row is inserted (a batch of first
    # messages writes every new consultation, message and outbox row in one flush at its end).
    consultation: Mapped[Consultation | None] = relationship(foreign_keys=[consultation_id])


# --- durability -----------------------------------------------------------------------------------


class InboxEvent(Base):
    """Each webhook event, stored once (by webhookEventId) before anything acts on it.

    The payload is kept only until the event is processed, then dropped: it holds the user's words and
    LINE ID, which the service keeps elsewhere only where it needs them.
    """

    __tablename__ = "inbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    source_type: Mapped[str | None] = mapped_column(String(16))
    is_redelivery: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="received")  # received, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))  # exception type only, never message text
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


DEAD_LETTERS_OPEN = "dead_letter_at IS NOT NULL AND dead_letter_ack_at IS NULL"  # evening clock (issue 10)


class OutboxMessage(Base):
    """One request to LINE (1-5 messages). Written with the state change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      # the claim's "no earlier pending row of this user": one index probe per candidate
                      Index("ix_outbox_client_pending", "client_id", "status", "id"),
                      # --- evening clock (issue 10): the coordinators' list of unacknowledged dead letters
                      Index("ix_outbox_dead_letters", "dead_letter_at", postgresql_where=text(DEAD_LETTERS_OPEN),
                            sqlite_where=text(DEAD_LETTERS_OPEN)))

    id: Mapped[int] = mapped_column(primary_key=True)
    _sentinel: Mapped[int | None] = orm_insert_sentinel()  # one INSERT per table for a batch (m2_11)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"))
    messages: Mapped[list[Any]] = mapped_column(JSON)  # LINE message objects as dicts
    reply_token: Mapped[str | None] = mapped_column(String(64))
    reply_token_expires_at: Mapped[datetime | None]
    retry_key: Mapped[str] = mapped_column(String(36), unique=True)  # X-Line-Retry-Key for pushes
    priority: Mapped[int] = mapped_column(Integer, default=0)  # crisis messages first
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, sent, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]  # lease: a crashed sender's claim lapses
    claim_token: Mapped[str | None] = mapped_column(String(36))
    reply_attempted: Mapped[bool] = mapped_column(Boolean, default=False)
    via: Mapped[str | None] = mapped_column(String(8))  # reply, push
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # --- evening clock (issue 10): a row failed after its last attempt is a dead letter for coordinators
    dead_letter_at: Mapped[datetime | None]  # when the alert sweep raised it
    dead_letter_ack_at: Mapped[datetime | None]  # when a coordinator or admin acknowledged it
    dead_letter_ack_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    text_purged_at: Mapped[datetime | None]  # retention erased `messages` (the row stays for statistics)

    consultation: Mapped[Consultation | None] = relationship()  # may be set before that row has an id


class SchedulerLease(Base):
    """Who runs the scheduled jobs (SQLite and any database without advisory locks): a lease the
    holder renews; another process takes over once it lapses."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))  # host:pid:random, no personal data
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


# --- console --------------------------------------------------------------------------------------


class Note(Base):
    """A counselor's private note on a consultation; never sent to the user."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # workspace (issue 12): counselor, supervisor (a coordinator watching), reopen (the reason given)
    kind: Mapped[str] = mapped_column(String(20), default="counselor", server_default="counselor")

    staff: Mapped[Staff] = relationship()


class CannedReply(Base):
    """定型文: short replies. organization_id NULL and staff_id NULL: the whole consortium's; organization_id
    set: that organization's (coordinators maintain them); staff_id set: one counselor's own."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)  # workspace (issue 12)
    title: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    from_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    to_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    to_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime | None]  # workspace (issue 12): when the recipient opened the chat

    from_staff: Mapped[Staff | None] = relationship(foreign_keys=[from_staff_id])
    to_staff: Mapped[Staff | None] = relationship(foreign_keys=[to_staff_id])


# --- routing (issue 10) ----------------------------------------------------------------------------


class RoutingRule(Base):
    """One `[[route]]` of the consortium file: intake answers and triage topics -> members, in order."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # the first matching rule wins
    name: Mapped[str] = mapped_column(String(120))
    match: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # who/age_bands/areas/concerns/topics
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)  # organization slugs, first choice first
    created_at: Mapped[datetime]


class RoutingDecision(Base):
    """Every routing decision about a consultation, with its reason (shown in the chat view)."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # routed, overflow, at_risk, transfer, same_counselor, taken
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # where it went
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # who did it / the counselor asked for
    rule: Mapped[str | None] = mapped_column(String(120))  # the rule that matched
    reason: Mapped[str] = mapped_column(String(40))  # a code; the console shows its label
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"slug", "outcome"}] in rule order
    created_at: Mapped[datetime]

    organization: Mapped[Organization | None] = relationship()
    staff: Mapped[Staff | None] = relationship()


# --- end routing


class AuditEvent(Base):
    """Who did what, when: every view, claim, message, transfer, close and export by staff."""

    __tablename__ = "audit_events"
    # workspace (issue 12): the audit page filters by consultation and by action, and a chat's "view" is
    # recorded once per opening (the last view of one staff member on one consultation is looked up).
    __table_args__ = (Index("ix_audit_events_consultation", "consultation_id", "staff_id", "created_at"),
                      Index("ix_audit_events_action", "action", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"))
    detail: Mapped[str | None] = mapped_column(String(300))  # never message text
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)

    staff: Mapped[Staff | None] = relationship()


class Throttle(Base):
    """A counter for login backoff and API rate limits, counted with one atomic upsert (storage/throttle.py)."""

    __tablename__ = "throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # login:NAME, ip:ADDRESS, api:TOKEN_ID
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime]
    next_try_at: Mapped[datetime | None]  # set while a backoff is running


class StaffSession(Base):
    """A console login. The cookie holds a random token; only its hash is stored. Ending the row ends the
    session everywhere at once (logout, disable, password change); idle and absolute limits are checked."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(20))  # logout, disabled, password, idle, expired


class ApiToken(Base):
    """A personal API token (only its hash is kept); it expires and can be revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    staff: Mapped[Staff] = relationship()


# --- statistics -----------------------------------------------------------------------------------


class FriendEvent(Base):
    """A follow or a block (unfollow), one row per event: friends gained per period, re-follows included."""

    __tablename__ = "friend_events"
    __table_args__ = (Index("ix_friend_events_client", "client_id", "kind", "occurred_at"),  # per client
                      Index("ix_friend_events_stats", "occurred_at", "kind", "refollow"))  # counts, index only

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    kind: Mapped[str] = mapped_column(String(8))  # follow, block
    occurred_at: Mapped[datetime]
    # Stats rollup kept by triggers (storage/rollups.py): a follow after an earlier follow by the client.
    refollow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Milestone(Base):
    """A step a client took, as a counselor recorded it (joined a group program, registered at サポステ…).

    `occurred_on` is when it happened (a JST date, may be recorded later); figures count each kind once
    per client per period. No free text: only codes.
    """

    __tablename__ = "milestones"
    __table_args__ = (Index("ix_milestones_stats", "occurred_on", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(30))  # group_program, family_association, support_station, …
    next_step: Mapped[str | None] = mapped_column(String(20))  # for decided_next_step: work, school, training…
    occurred_on: Mapped[date] = mapped_column(Date)
    is_training: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime]


# --- workspace (issue 12) -------------------------------------------------------------------------


class ConsultationRead(Base):
    """How far one staff member has read one consultation: unread = the user's messages after this id."""

    __tablename__ = "consultation_reads"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), primary_key=True, index=True)
    last_read_message_id: Mapped[int] = mapped_column(Integer, default=0)
    read_at: Mapped[datetime]


class Label(Base):
    """A label an organization defines for its consultations (e.g. 継続見守り, 家族支援)."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_labels_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ConsultationLabel(Base):
    """A label on a consultation (at most once each)."""

    __tablename__ = "consultation_labels"

    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id"), primary_key=True, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    added_at: Mapped[datetime]
