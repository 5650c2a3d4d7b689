"""When LINE_EMULATOR is on: the LINE platform emulator at /line-emulator and the chat page at
/simulator, in the service's own process. Off (the default), neither route exists.

The emulator delivers webhooks to LINE_EMULATOR_WEBHOOK_URL (configured; never learned from a request's
Host header), and both parts answer only requests from this machine (loopback, not forwarded by a proxy):
its control routes forge users' messages and inject faults.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, abort, request

from bot.config import Settings
from linesim import LinePlatform, create_blueprint
from linesim.page import create_page_blueprint

PREFIX = "/line-emulator"
_FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-Ip")


def from_this_machine() -> bool:
    if any(h in request.headers for h in _FORWARDED):
        return False  # came through a proxy: whoever sent it is elsewhere
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def mount_emulator(app: Flask, settings: Settings) -> LinePlatform:
    platform = LinePlatform(settings.line_channel_secret, settings.line_channel_access_token,
                            webhook_url=settings.line_emulator_webhook_url or None)
    app.extensions["line_emulator"] = platform
    emulator = create_blueprint(platform)
    page = create_page_blueprint(platform)
    for bp in (emulator, page):
        bp.before_request(_loopback_only)
    app.register_blueprint(emulator, url_prefix=PREFIX)
    app.register_blueprint(page)
    return platform


def _loopback_only() -> None:
    if not from_this_machine():
        abort(404)
