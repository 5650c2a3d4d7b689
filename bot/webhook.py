"""POST /callback: verify, store each event once, handle each on its own, answer 200.

The signature is checked on the raw body with line-bot-sdk's validator. The SDK's parser rejects a
whole body when one event fails validation, so events are parsed one at a time after storage.
Sending happens after the answer (the outbox sender is kicked when the response closes).
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, Response, abort, current_app, request
from linebot.v3 import SignatureValidator

from bot.services import services
from handlers.process import process_event
from storage import inbox

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.post("/callback")
def callback() -> Response:
    svc = services()
    limit = svc.settings.webhook_max_bytes
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        abort(413)
    signature = request.headers.get("X-Line-Signature", "")
    if not signature or not SignatureValidator(svc.settings.line_channel_secret).validate(
            raw.decode("utf-8", errors="replace"), signature):
        log.warning("webhook: missing or invalid signature")
        abort(400, "invalid signature")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        abort(400, "malformed JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
        abort(400, "not a webhook body")
    events = [e for e in payload.get("events", []) if isinstance(e, dict)]

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
