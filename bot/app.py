"""The application factory. Nothing happens at import time: settings come in, the app goes out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from bot.config import Settings, SettingsError, check, load_settings
from bot.ingest import GroupStore
from bot.line_client import LineGateway
from bot.sender import BackgroundSender, InlineSender, OutboxSender
from bot.services import Services, build_policy, services
from storage.db import make_engine, make_session_factory
from storage.outbox import pending_count

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(config: Settings | Mapping[str, Any] | None = None, *,
               clock: Callable[[], datetime] | None = None) -> Flask:
    """`config`: a Settings, a mapping of environment-style overrides, or None for os.environ."""
    if isinstance(config, Settings):
        settings = config
    else:
        import os

        env = dict(os.environ)
        env.update({k: str(v) for k, v in (config or {}).items()})
        settings = load_settings(env)
    problems = check(settings, require_line=False)
    if not settings.secret_key:
        problems.append("SECRET_KEY is missing (a long random string; it keys sessions and user hashes)")
    if problems:  # a Settings built in code is held to the same rules as the environment
        raise SettingsError(problems)
    clock = clock or utc_now

    app = Flask(__name__)
    from datetime import timedelta

    from bot.security import harden

    harden(app, trusted_proxies=settings.trusted_proxies, webhook_max_bytes=settings.webhook_max_bytes,
           https=settings.session_cookie_secure)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from bot.workers import EventWorkers, batch_size, handle_batch, handle_urgent, worker_count

    workers = worker_count(settings)
    engine = make_engine(settings.database_url, threads=workers)
    sessions = make_session_factory(engine)
    gateway = LineGateway(settings.line_api_base_url, settings.line_channel_access_token,
                          timeout=(3.0, float(settings.line_api_timeout)))
    outbox = OutboxSender(sessions, gateway, clock)
    sender = InlineSender(outbox) if settings.outbox_mode == "inline" else BackgroundSender(outbox)
    svc = Services(settings=settings, clock=clock, engine=engine, sessions=sessions, gateway=gateway,
                   sender=sender, outbox=outbox, policy=build_policy(settings), ingest=GroupStore(sessions, clock))
    if settings.outbox_mode != "inline":  # inline (tests): events are handled inside the request
        svc.events = EventWorkers(functools.partial(handle_batch, svc), workers, batch=batch_size(engine),
                                  urgent_work=functools.partial(handle_urgent, svc))
        svc.events.start()
    app.extensions["tsunagu"] = svc
    _warm_up_triage()
    if settings.outbox_mode == "thread":
        sender.start()

    from bot.webhook import bp as webhook_bp

    app.register_blueprint(webhook_bp)
    _register_health(app)
    _register_optional(app, settings)
    return app


def _warm_up_triage() -> None:
    """Load the triage lexicon, model and analyzer now (about a second, once per process), so that the
    first message after a start, perhaps a crisis text, does not wait for them."""
    from flows.triage import assess
    from flows.triage_model import model

    # The model is read only for texts the rules leave below high, which the sample text is not:
    # load it here, or the first such text (and every thread racing it) would parse 1.4 MB of JSON.
    model()
    assess("こんばんは。もう消えたいです")


def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        svc = services()
        try:
            with svc.sessions() as session:
                session.execute(text("SELECT 1"))
                pending = pending_count(session)
        except Exception as exc:  # the database is the one thing we cannot work without
            log.error("health check: database unreachable (%s)", type(exc).__name__)
            return jsonify(status="error", database="unreachable"), 503
        return jsonify(status="ok", database="ok", outbox_pending=pending)


def _register_optional(app: Flask, settings: Settings) -> None:
    """Parts that other modules contribute: the console, and the LINE emulator when it is on."""
    from bot.console import register as register_console

    register_console(app)
    if settings.line_emulator:
        from linesim.mount import mount_emulator

        mount_emulator(app, settings)
