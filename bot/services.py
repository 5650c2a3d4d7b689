"""The app's service container: settings, clock, database, LINE gateway, sender and domain policy."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.ingest import GroupStore
from bot.line_client import LineGateway
from flows.consultation import Policy
from flows.intake import build_intake_flow
from flows.routing import RoutingPolicy


@dataclass
class Services:
    settings: Settings
    clock: Callable[[], datetime]
    engine: Engine
    sessions: sessionmaker[Session]
    gateway: LineGateway
    sender: object  # BackgroundSender | InlineSender (has start/kick/stop)
    outbox: object  # OutboxSender
    policy: Policy
    events: Any = None  # bot.workers.EventWorkers, or None: events handled inside the request (tests)
    ingest: GroupStore | None = None  # the webhook's writes


def services() -> Services:
    return current_app.extensions["tsunagu"]


def build_policy(settings: Settings) -> Policy:
    # The user-hash key is derived from SECRET_KEY, kept apart from the session-signing use.
    hash_key = hashlib.sha256(b"tsunagu-user-hash:" + settings.secret_key.encode()).digest()
    return Policy(
        hours=settings.hours(),
        intake=build_intake_flow(settings.areas, timedelta(minutes=settings.intake_timeout_minutes)),
        hash_key=hash_key,
        crisis_repeat=timedelta(minutes=settings.crisis_repeat_minutes),
        routing=RoutingPolicy(overflow_after=timedelta(minutes=settings.overflow_minutes),
                              tz=ZoneInfo(settings.service_timezone),
                              counselor_max_active=settings.counselor_max_active,
                              on_duty_within=timedelta(minutes=settings.session_idle_minutes)),
    )
