"""When LINE_EMULATOR is on: the LINE platform emulator at /line-emulator and the chat page at
/simulator, in the service's own process. Off (the default), neither route exists."""

from __future__ import annotations

from flask import Flask, request

from bot.config import Settings
from linesim import LinePlatform, create_blueprint
from linesim.page import create_page_blueprint

PREFIX = "/line-emulator"


def mount_emulator(app: Flask, settings: Settings) -> LinePlatform:
    platform = LinePlatform(settings.line_channel_secret, settings.line_channel_access_token)
    app.extensions["line_emulator"] = platform
    app.register_blueprint(create_blueprint(platform), url_prefix=PREFIX)
    app.register_blueprint(create_page_blueprint(platform))

    @app.before_request
    def _learn_webhook_url() -> None:
        # The emulator delivers to this same server; its address is known once someone calls it.
        if platform.webhook_url is None:
            platform.webhook_url = request.host_url.rstrip("/") + "/callback"

    return platform
