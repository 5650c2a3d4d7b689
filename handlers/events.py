"""LINE events -> domain calls. One plain function per event kind, registered in `HANDLERS`.

Plain functions on purpose: no bound methods (the SDK's own WebhookHandler miscounts their
parameters), and dispatch is by the SDK's typed event classes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from flows import consultation as domain
from flows import evening
from handlers.context import HandlerContext

log = logging.getLogger(__name__)


def reply_of(ctx: HandlerContext, event: Event) -> domain.Reply | None:
    """The event's reply token with its deadline. LINE's clock starts at the event's `timestamp`
    (milliseconds), so a redelivered or late-processed event has less time left, not a fresh minute."""
    token = getattr(event, "reply_token", None)
    if not token:
        return None
    ttl = ctx.policy.reply_token_ttl
    expires = ctx.now + ttl
    stamp = getattr(event, "timestamp", None)
    if isinstance(stamp, int) and stamp > 0:
        expires = min(expires, datetime.fromtimestamp(stamp / 1000, UTC) + ttl)
    return domain.Reply(token, expires)


def handle_message(ctx: HandlerContext, event: MessageEvent) -> None:
    user_id = event.source.user_id
    if isinstance(event.message, TextMessageContent):
        out = domain.on_text(ctx.session, ctx.policy, user_id, event.message.text, ctx.now, reply_of(ctx, event))
    else:
        out = domain.on_non_text(ctx.session, ctx.policy, user_id, event.message.type or "other", ctx.now,
                                 reply_of(ctx, event))
    # Shown as read on the user's phone when a counselor opens the chat (bot/line_touches.py).
    evening.remember_read_token(out.consultation, getattr(event.message, "mark_as_read_token", None))


def handle_follow(ctx: HandlerContext, event: FollowEvent) -> None:
    domain.on_follow(ctx.session, ctx.policy, event.source.user_id, ctx.now, reply_of(ctx, event))


def handle_unfollow(ctx: HandlerContext, event: UnfollowEvent) -> None:
    domain.on_unfollow(ctx.session, ctx.policy, event.source.user_id, ctx.now)


def handle_postback(ctx: HandlerContext, event: PostbackEvent) -> None:
    domain.on_postback(ctx.session, ctx.policy, event.source.user_id, event.postback.data or "", ctx.now,
                       reply_of(ctx, event))


HANDLERS: dict[type, Callable[[HandlerContext, Event], None]] = {
    MessageEvent: handle_message,
    FollowEvent: handle_follow,
    UnfollowEvent: handle_unfollow,
    PostbackEvent: handle_postback,
}


def creates_client(event: Event | None) -> str | None:
    """The LINE user ID when `dispatch` will hand this event to a handler that looks up or creates
    its client (a message, follow or postback from a user, in active mode), else None."""
    if event is None or getattr(event, "mode", "active") == "standby" or not isinstance(event.source, UserSource):
        return None
    if type(event) not in (MessageEvent, FollowEvent, PostbackEvent):
        return None
    return event.source.user_id or None


def dispatch(ctx: HandlerContext, event: Event) -> str:
    """Run the event's handler; returns what was done ("handled", "left", "ignored") for the log."""
    if getattr(event, "mode", "active") == "standby":
        return "ignored"  # another channel holds the chat: answering would talk over it
    if not isinstance(event.source, UserSource):
        return "ignored"  # groups and rooms are left in handlers.process, before parsing
    handler = HANDLERS.get(type(event))
    if handler is None or not event.source.user_id:
        return "ignored"
    handler(ctx, event)
    return "handled"
