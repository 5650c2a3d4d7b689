"""POST /callback: verify, store the batch once, answer 200, handle each event right after.

The signature is checked on the raw body with line-bot-sdk's validator. The batch's events are
stored in one statement (a redelivered webhookEventId is skipped there; requests arriving together
share it and its commit, `bot.ingest`), then handed to the event
workers (`bot.workers`), which handle each in its own transaction and send its replies at once.
Under tests (`OUTBOX_MODE=inline`) events are handled inside the request and sent when the response
closes, so a test sees the result as soon as its POST returns. The SDK's parser rejects a whole body
when one event fails validation, so events are parsed one at a time when handled.
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, Response, abort, request
from sqlalchemy.exc import SQLAlchemyError

from bot import webhook_input
from bot.services import services
from bot.workers import after_commit, claim_of
from handlers.context import Processed
from handlers.process import describe_error, is_crisis_text, process_event
from storage import inbox

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.post("/callback")
def callback() -> Response:
    svc = services()
    # Input hardening (size, signature, nesting, each event checked on its own): bot/webhook_input.py
    events = webhook_input.read_events(request, svc.settings.line_channel_secret, svc.settings.webhook_max_bytes)

    keyed = [(event_key(e), e) for e in events]
    try:
        stored = svc.ingest.store(keyed)  # committed when it returns: with the requests beside it, in one go
    except SQLAlchemyError as exc:  # not stored: LINE redelivers on a 5xx, so nothing is lost
        log.error("webhook: %d events not stored: %s", len(events), describe_error(exc))
        abort(503)
    if len(stored) < len(keyed):
        log.info("webhook: %d of %d events already received; not acted on again",
                 len(keyed) - len(stored), len(keyed))
    todo = [(stored.pop(key), event) for key, event in keyed if key in stored]  # body order, once each

    if svc.events is not None:
        for inbox_id, event in todo:
            svc.events.submit(inbox.user_of(event), inbox_id, event, urgent=is_crisis_text(event), key=inbox_id)
        return Response("OK", status=200, mimetype="text/plain")

    done = [process_event(svc.sessions, svc.policy, svc.clock, inbox_id, event, claim=claim_of(svc))
            for inbox_id, event in todo]
    response = Response("OK", status=200, mimetype="text/plain")
    response.call_on_close(lambda: _after_inline(svc, done))
    return response


def _after_inline(svc, done: list[Processed]) -> None:  # noqa: ANN001
    for processed in done:
        after_commit(svc, processed)
    try:
        svc.sender.kick()  # anything else that came due
    except Exception as exc:  # after the response nothing may propagate; the sweep retries sending
        log.error("after-response sending failed: %s", describe_error(exc))


def event_key(event: dict) -> str:
    """The dedup key: LINE's webhookEventId, or a digest of the event when it has none."""
    key = event.get("webhookEventId")
    if isinstance(key, str) and key:
        return key[:64]
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return "sha256:" + digest[:56]
