"""The workspace's one live stream: everything the page needs in one batched poll.

One request every couple of seconds per open workspace, whatever the number of chats: the lists (queue,
my chats, and for supervisors every live chat), unread counts, the alerts, transfers waiting to be seen,
and the open chat's new messages, delivery states and notes. All of it is read from the database, so any
web process answers the same, and nothing holds a server thread between polls (waitress has a few).

The lists come with a `version` (a hash of their content); a page that already has that version gets
`lists: null`, so an unchanged evening costs a few indexed queries and a small answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import request

from bot.console import views
from bot.console.auth import may_read, may_see, my_chats, supervised, visible_queue
from flows import evening
from storage import audit
from storage import labels as label_repo
from storage import messages as message_repo
from storage import workspace as workspace_repo
from storage.models import Consultation


@dataclass(frozen=True)
class Cursor:
    """What the page already has: its lists' version, and for the open chat the last message and note."""

    list_version: str = ""
    chat_id: int | None = None
    after: int = 0
    notes_after: int = 0
    watch: bool = False  # the page opened the chat as a supervisor watching it


def lists(u: Any) -> dict[str, Any]:
    """The queue, my chats and (supervisors) every live chat, with unread counts and previews."""
    db, staff = u.db, u.staff
    queue = visible_queue(db, staff, u.now)
    mine = my_chats(db, staff, u.now)
    watch = supervised(db, staff, u.now)
    everything = {c.id: c for c in [*queue, *mine, *watch]}
    loaded = workspace_repo.preload(db, everything.values())  # noqa: F841  (held while the rows are built)
    facts = workspace_repo.facts(db, list(everything.values()), staff.id)

    def rows(cs: list[Consultation]) -> list[dict[str, Any]]:
        return [views.item(c, facts[c.id], u.clock) for c in cs]

    orgs = None if staff.role in ("consortium", "admin") else [staff.organization_id]
    return {"queue": rows(queue), "mine": rows(mine), "watch": rows(watch) if staff.role != "counselor" else None,
            "labels": [{"id": lab.id, "name": lab.name} for lab in label_repo.for_organizations(db, orgs)]}


def version(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def chat(u: Any, cursor: Cursor) -> dict[str, Any] | None:
    """What changed in the open chat since the cursor; the same visibility as opening it."""
    if cursor.chat_id is None:
        return None
    c = u.db.get(Consultation, cursor.chat_id)
    if c is None or not may_read(u.staff, c, u.now):
        return {"id": cursor.chat_id, "error": "forbidden"}
    # Reading a chat through the stream is audited like opening it: once per viewing (the page opened it
    # with GET /consultations/ID a moment ago, so this adds a row only for a chat left open a long time).
    sees = may_see(u.staff, c, u.now)
    audit.record_view(u.db, u.staff.id, c.id, u.now, action="watch" if cursor.watch or not sees else "view",
                      ip=request.remote_addr)
    rows = message_repo.with_delivery(u.db, c.id)
    new = [views.message(m, status, u.clock) for m, status in rows if m.id > cursor.after]
    statuses = {str(m.id): status for m, status in rows if status is not None}
    notes = [views.note(n, u.clock) for n in workspace_repo.notes(u.db, c.id, after_id=cursor.notes_after)]
    return {"id": c.id, "state": c.state, "messages": new, "statuses": statuses, "notes": notes,
            "stamp": stamp(u, c)}


def stamp(u: Any, c: Consultation) -> str:
    """Everything the panes show besides messages and notes (state, holder, risk, labels, transfers) summed
    up: when it changes, the page fetches the whole consultation again."""
    return version({"state": c.state, "counselor": c.counselor_id, "risk": c.risk_level, "cues": c.risk_cues,
                    "labels": label_repo.ids_on(u.db, c.id), "transfers": len(workspace_repo.transfers(u.db, c.id)),
                    "disposition": c.disposition, "sees": may_see(u.staff, c, u.now), "idle": evening.is_idle(c)})


def snapshot(u: Any, cursor: Cursor, alert_items: list[dict[str, Any]]) -> dict[str, Any]:
    payload = lists(u)
    v = version(payload)
    mine = payload["mine"]
    transfers = [views.transfer(u.db, t, u.clock) for t in workspace_repo.unseen_transfers_to(u.db, u.staff.id)]
    return {
        "now": u.now.isoformat(),
        "me": {"id": u.staff.id, "name": u.staff.display_name, "role": u.staff.role},
        "version": v,
        "lists": None if cursor.list_version == v else payload,
        "unread_total": sum(row["unread"] for row in mine),
        "alerts": alert_items,
        "transfers_in": transfers,
        "dead_letters": dead_letters(u),
        "chat": chat(u, cursor),
    }


def dead_letters(u: Any) -> list[dict[str, Any]] | None:
    """Coordinators: messages LINE never took (issue 10), in the same stream rather than a poll of their own."""
    from bot.console import evening_api

    if u.staff.role not in evening_api.COORDINATING:
        return None
    return evening_api.dead_letter_items(u.db, u.staff)
