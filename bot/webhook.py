"""POST /callback: verify, store each event once, handle each on its own, answer 200.

The signature is checked on the raw body with line-bot-sdk's validator. The SDK's parser rejects a
whole body when one event fails validation, so events are parsed one at a time after storage.
Sending happens after the answer (the outbox sender is kicked when the response closes).
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, Response, current_app, request

from bot import webhook_input
from bot.services import services
from handlers.process import process_event
from storage import inbox

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.post("/callback")
def callback() -> Response:
    svc = services()
    # Input hardening (size, signature, nesting, each event checked on its own): bot/webhook_input.py
    events = webhook_input.read_events(request, svc.settings.line_channel_secret, svc.settings.webhook_max_bytes)

    now = svc.clock()
    with svc.sessions.begin() as session:
        stored = []
        for event in events:
            row = inbox.store_once(session, event_key(event), event, now)
            if row is None:
                log.info("webhook: event %s already received; not acted on again", event_key(event))
            else:
                stored.append(row.id)
    to_leave = []
    for inbox_id in stored:
        to_leave.extend(process_event(svc.sessions, svc.policy, svc.clock, inbox_id))

    response = Response("OK", status=200, mimetype="text/plain")
    response.call_on_close(lambda: _after_response(svc, to_leave))
    return response


def _after_response(svc, to_leave: list[tuple[str, str]]) -> None:  # noqa: ANN001
    try:
        svc.sender.kick()
        for source_type, chat_id in to_leave:
            result = svc.gateway.leave(source_type, chat_id)
            log.info("left a %s (%s)", source_type, result.outcome)
    except Exception:  # after the response nothing may propagate; the sweep retries sending
        current_app.logger.exception("after-response work failed")


def event_key(event: dict) -> str:
    """The dedup key: LINE's webhookEventId, or a digest of the event when it has none."""
    key = event.get("webhookEventId")
    if isinstance(key, str) and key:
        return key[:64]
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return "sha256:" + digest[:56]
