"""Settings, parsed strictly from the environment (entry points load `.env` first).

Every problem is reported at once, so an operator fixes the whole file in one go.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.hours import ServiceHours

DEFAULT_LINE_API = "https://api.line.me"
DEFAULT_DATABASE = "sqlite:///tsunagu.db"


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    line_channel_secret: str = ""
    line_channel_access_token: str = ""
    line_api_base_url: str = DEFAULT_LINE_API
    database_url: str = DEFAULT_DATABASE
    service_hours: str = "16:00-21:00"
    service_timezone: str = "Asia/Tokyo"
    closed_dates: tuple[date, ...] = ()
    areas: tuple[str, ...] = ()
    secret_key: str = ""
    line_emulator: bool = False
    intake_timeout_minutes: int = 30
    webhook_max_bytes: int = 1_000_000
    counselor_max_active: int = 3
    waiting_update_minutes: int = 10
    crisis_repeat_minutes: int = 30
    line_api_timeout: int = 10  # seconds to wait for LINE's answer before treating the outcome as unknown
    retention_days: int = 365
    outbox_mode: str = "thread"  # thread: a background sender; inline: send right after the response (tests)
    # Threads handling stored webhook events; one user's events always on the same one. 0: chosen by
    # the database (`bot.workers.worker_count`).
    event_workers: int = 0
    scheduler: bool = True
    session_cookie_secure: bool = True
    # Security (issue 13): sessions, tokens, throttling, proxies, the emulator's webhook address.
    trusted_proxies: int = 0  # reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    api_token_days: int = 90
    api_rate_limit: int = 120  # requests per minute per API token
    login_free_attempts: int = 5  # per account, before each further attempt waits (backoff)
    login_backoff_max_seconds: int = 60
    login_address_limit: int = 30  # failed logins per address per 15 minutes before that address waits
    line_emulator_webhook_url: str = ""
    # --- evening clock and LINE-native touches (issue 10)
    closing_notice_minutes: int = 15  # the closing notice to everyone waiting, this long before the end
    idle_chat_minutes: int = 20  # an active chat whose user is silent this long prompts the counselor
    line_mark_as_read: str = "token"  # token: mark the user's messages read by their token; chat: by user ID; off
    line_data_api_base_url: str = ""  # LINE's blob host (rich menu images); empty: derived from LINE_API_BASE_URL
    richmenu_font: str = ""  # a font with Japanese glyphs for the rich menu image; empty: look in the usual places
    # Routing (issue 10): a consultation waiting this long in a member's queue is shown to every member.
    overflow_minutes: int = 10
    extra: Mapping[str, Any] = field(default_factory=dict)

    def hours(self) -> ServiceHours:
        return ServiceHours.parse(self.service_hours, self.service_timezone, self.closed_dates)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ENV = {
    "LINE_CHANNEL_SECRET": "line_channel_secret",
    "LINE_CHANNEL_ACCESS_TOKEN": "line_channel_access_token",
    "LINE_API_BASE_URL": "line_api_base_url",
    "DATABASE_URL": "database_url",
    "SERVICE_HOURS": "service_hours",
    "SERVICE_TIMEZONE": "service_timezone",
    "CLOSED_DATES": "closed_dates",
    "AREAS": "areas",
    "SECRET_KEY": "secret_key",
    "LINE_EMULATOR": "line_emulator",
    "INTAKE_TIMEOUT_MINUTES": "intake_timeout_minutes",
    "WEBHOOK_MAX_BYTES": "webhook_max_bytes",
    "COUNSELOR_MAX_ACTIVE": "counselor_max_active",
    "WAITING_UPDATE_MINUTES": "waiting_update_minutes",
    "CRISIS_REPEAT_MINUTES": "crisis_repeat_minutes",
    "RETENTION_DAYS": "retention_days",
    "LINE_API_TIMEOUT": "line_api_timeout",
    "OUTBOX_MODE": "outbox_mode",
    "EVENT_WORKERS": "event_workers",
    "SCHEDULER": "scheduler",
    "SESSION_COOKIE_SECURE": "session_cookie_secure",
    "TRUSTED_PROXIES": "trusted_proxies",
    "SESSION_IDLE_MINUTES": "session_idle_minutes",
    "SESSION_MAX_HOURS": "session_max_hours",
    "API_TOKEN_DAYS": "api_token_days",
    "API_RATE_LIMIT": "api_rate_limit",
    "LOGIN_FREE_ATTEMPTS": "login_free_attempts",
    "LOGIN_BACKOFF_MAX_SECONDS": "login_backoff_max_seconds",
    "LOGIN_ADDRESS_LIMIT": "login_address_limit",
    "LINE_EMULATOR_WEBHOOK_URL": "line_emulator_webhook_url",
    "CLOSING_NOTICE_MINUTES": "closing_notice_minutes",
    "IDLE_CHAT_MINUTES": "idle_chat_minutes",
    "LINE_MARK_AS_READ": "line_mark_as_read",
    "LINE_DATA_API_BASE_URL": "line_data_api_base_url",
    "RICHMENU_FONT": "richmenu_font",
    "OVERFLOW_MINUTES": "overflow_minutes",
}
_MAY_BE_ZERO = {"trusted_proxies", "event_workers"}
SECRET_KEY_MIN = 32
REAL_LINE_HOSTS = ("line.me", "line-apps.com")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(name: str, attr: str, raw: str, problems: list[str]) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[attr]
    raw = raw.strip()
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        problems.append(f"{name}: expected on/off, got {raw!r}")
    elif kind == "int":
        try:
            value = int(raw)
            if value < 0 or (value == 0 and attr not in _MAY_BE_ZERO):
                raise ValueError
            return value
        except ValueError:
            problems.append(f"{name}: expected a positive whole number, got {raw!r}")
    elif attr == "closed_dates":
        out = []
        for part in filter(None, (p.strip() for p in raw.split(","))):
            try:
                out.append(date.fromisoformat(part))
            except ValueError:
                problems.append(f"{name}: {part!r} is not a date (YYYY-MM-DD)")
        return tuple(out)
    elif attr == "areas":
        return tuple(filter(None, (p.strip() for p in raw.replace("、", ",").split(","))))
    else:
        return raw
    return None


def load_settings(env: Mapping[str, str] | None = None, *, require_line: bool = True,
                  **overrides: Any) -> Settings:
    """Read settings from `env` (default os.environ); raise SettingsError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, attr in _ENV.items():
        if name in env:
            parsed = _parse(name, attr, env[name], problems)
            if parsed is not None:
                values[attr] = parsed
    values.update(overrides)
    settings = Settings(**values)
    problems.extend(check(settings, require_line=require_line))
    if problems:
        raise SettingsError(problems)
    return settings


def check(s: Settings, *, require_line: bool = True) -> list[str]:
    problems = []
    if require_line and not s.line_channel_secret:
        problems.append("LINE_CHANNEL_SECRET is missing (LINE Developers console > Basic settings)")
    if require_line and not s.line_channel_access_token:
        problems.append("LINE_CHANNEL_ACCESS_TOKEN is missing (Messaging API > channel access token)")
    if require_line and not s.secret_key:
        problems.append("SECRET_KEY is missing (a long random string; it keys sessions and user hashes)")
    if s.secret_key and len(s.secret_key) < SECRET_KEY_MIN:
        problems.append(f"SECRET_KEY is too short ({len(s.secret_key)} characters; at least {SECRET_KEY_MIN}: "
                        "python3 -c \"import secrets; print(secrets.token_urlsafe(48))\")")
    if not s.line_api_base_url.startswith(("http://", "https://")):
        problems.append("LINE_API_BASE_URL must start with http:// or https://")
    if s.line_emulator and talks_to_real_line(s.line_api_base_url):
        problems.append("LINE_EMULATOR=on with the real LINE API address: the emulator is for the demo and tests; "
                        "turn it off, or point LINE_API_BASE_URL at it")
    if s.line_emulator_webhook_url and not s.line_emulator_webhook_url.startswith(("http://", "https://")):
        problems.append("LINE_EMULATOR_WEBHOOK_URL must start with http:// or https://")
    if s.trusted_proxies > 5:
        problems.append("TRUSTED_PROXIES: the number of reverse proxies in front of the app (0-5)")
    try:
        ZoneInfo(s.service_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"SERVICE_TIMEZONE: unknown time zone {s.service_timezone!r}")
    else:
        try:
            s.hours()
        except ValueError as exc:
            problems.append(str(exc))
    if len(s.areas) > 11:
        problems.append("AREAS: at most 11 municipalities (LINE shows 13 quick replies; two are taken)")
    if any(len(a) > 20 for a in s.areas):
        problems.append("AREAS: each name must be at most 20 characters (LINE's quick-reply label limit)")
    if not 0 <= s.event_workers <= 64:
        problems.append("EVENT_WORKERS must be between 1 and 64 (or 0: chosen by the database)")
    if s.outbox_mode not in ("thread", "inline", "off"):
        problems.append("OUTBOX_MODE must be thread, inline or off")
    if s.line_mark_as_read not in ("token", "chat", "off"):
        problems.append("LINE_MARK_AS_READ must be token, chat or off")
    if s.line_data_api_base_url and not s.line_data_api_base_url.startswith(("http://", "https://")):
        problems.append("LINE_DATA_API_BASE_URL must start with http:// or https://")
    if s.closing_notice_minutes > 180:
        problems.append("CLOSING_NOTICE_MINUTES: at most 180 (the notice goes out this long before closing)")
    return problems


REAL_DATA_API = "https://api-data.line.me"


def data_api_url(s: Settings) -> str:
    """LINE's blob host (rich menu images): the setting, else api-data.line.me beside the real API, else
    the emulator's `/blob` beside any other API address (tests, the demo)."""
    if s.line_data_api_base_url:
        return s.line_data_api_base_url.rstrip("/")
    if talks_to_real_line(s.line_api_base_url):
        return REAL_DATA_API
    return s.line_api_base_url.rstrip("/") + "/blob"


def talks_to_real_line(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in REAL_LINE_HOSTS)
