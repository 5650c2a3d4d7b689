"""What a handler gets: the unit of work's session, the domain policy, one clock reading, and a list
of things to do after the transaction commits (leaving a group is an API call, not a message)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from flows.consultation import Policy


@dataclass
class HandlerContext:
    session: Session
    policy: Policy
    now: datetime
    leave: list[tuple[str, str]] = field(default_factory=list)  # (group|room, id) to leave after commit


@dataclass
class Processed:
    """What one processed event leaves for after its commit: outbox rows to send at once (the
    reply token is fresh now) and group/room chats to leave."""

    outbox_ids: list[int] = field(default_factory=list)
    leave: list[tuple[str, str]] = field(default_factory=list)
