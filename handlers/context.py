"""What a handler gets: the unit of work's session, the domain policy, one clock reading, and a list
of things to do after the transaction commits (leaving a group is an API call, not a message)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    """What processed events leave for after their commit: outbox rows to send at once (the reply
    token is fresh now), the ones among them already leased in the same transaction (`jobs`, ready
    to send), and group/room chats to leave."""

    outbox_ids: list[int] = field(default_factory=list)
    leave: list[tuple[str, str]] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)  # bot.sender.Job

    def merge(self, other: Processed) -> Processed:
        return Processed(self.outbox_ids + other.outbox_ids, self.leave + other.leave, self.jobs + other.jobs)


# Leases the outbox rows a transaction is writing, before its last flush: (session, [(row, client)], now)
# -> what gives the jobs once the flush has given the rows their ids (bot.sender.OutboxSender.claim_within).
ClaimWithin = Callable[[Session, Sequence[tuple[Any, Any]], datetime], Callable[[], list[Any]]]
