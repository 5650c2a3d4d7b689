"""Tsunagu's web side. `bot:create_app()` is the WSGI app factory (e.g. for gunicorn)."""

from bot.app import create_app

__all__ = ["create_app"]
