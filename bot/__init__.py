"""Tsunagu's web side. `bot:create_app()` is the WSGI app factory (e.g. for gunicorn).

Imported lazily so that `linesim` (the LINE emulator) loads without the whole service.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bot.app import create_app

        return create_app
    raise AttributeError(name)
