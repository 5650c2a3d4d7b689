"""Hardening that applies to every response and request: security headers, the proxy setting,
bounded IDs in URLs, request body limits, JSON nesting capped before parsing, text sanitizing."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the database's integer primary keys
MAX_JSON_DEPTH = 32
API_MAX_BYTES = 64 * 1024  # a console or API request body (a message is at most 5,000 characters)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_NO_STORE_PREFIXES = ("/console", "/api/", "/simulator", "/line-emulator")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")
_BRACKETS = re.compile(rb'[\[\]{}"\\]')


class BoundedIntConverter(IntegerConverter):
    """`<int:id>` that never matches a number the database cannot hold: a 20-digit ID is a 404, not a 500."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:  # noqa: A002, ANN001
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def clean_text(value: Any, limit: int | None = None) -> str:
    """A string PostgreSQL accepts and a person can read: NUL, other control characters (tab and newlines
    stay) and lone surrogates become U+FFFD."""
    if not isinstance(value, str):
        return ""
    text = _CONTROL.sub("\ufffd", value)
    return text[:limit] if limit is not None else text


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text nests deeper than `limit`, found without parsing (strings are skipped).
    Python's parser would hit its recursion limit (a 500) on thousands of levels."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # fewer openers than the limit, strings or not: no need to walk the text (a webhook's usual case)
    depth, in_string, escaped = 0, False, False
    for m in _BRACKETS.finditer(raw):
        ch = m.group()
        if in_string:
            if escaped:
                escaped = False
            elif ch == b"\\":
                escaped = m.end() < len(raw)  # the next byte is escaped (it may be a quote)
                if escaped and raw[m.end():m.end() + 1] not in (b'"', b"\\"):
                    escaped = False  # \n, \u…: nothing of ours is escaped
            elif ch == b'"':
                in_string = False
            continue
        if ch == b'"':
            in_string = True
        elif ch in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif ch in (b"]", b"}"):
            depth -= 1
    return False


def loads_bounded(raw: bytes) -> Any:
    """json.loads with the nesting capped first; ValueError for anything that is not sane JSON."""
    if json_depth_exceeds(raw):
        raise ValueError("JSON nested too deeply")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


class HardenedRequest(Request):
    """get_json() refuses deep nesting before parsing (a 400, not a RecursionError)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:  # noqa: FBT001
        if not (force or self.is_json):
            if silent:
                return None
            return super().get_json(force=force, silent=silent, cache=cache)
        raw = self.get_data(cache=True)
        if json_depth_exceeds(raw):
            if silent:
                return None
            raise BadRequest("JSON nested too deeply")
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError as exc:
            raise BadRequest("JSON nested too deeply") from exc


def harden(app: Flask, *, trusted_proxies: int, webhook_max_bytes: int, https: bool) -> None:
    """Everything in this module, applied to the app (called by create_app before blueprints register)."""
    app.request_class = HardenedRequest
    app.url_map.converters["int"] = BoundedIntConverter
    # The largest body anything here accepts; Werkzeug stops reading beyond it (chunked bodies too).
    app.config["MAX_CONTENT_LENGTH"] = max(webhook_max_bytes, API_MAX_BYTES)
    app.config["MAX_FORM_MEMORY_SIZE"] = API_MAX_BYTES
    if trusted_proxies:
        # Believe X-Forwarded-For/-Proto only from this many proxies in front (set explicitly).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)  # type: ignore[method-assign]

    @app.before_request
    def _small_bodies_outside_the_webhook() -> None:
        if request.path != "/callback" and (request.content_length or 0) > API_MAX_BYTES:
            raise RequestEntityTooLarge()
        if request.path != "/callback":
            request.max_content_length = API_MAX_BYTES  # type: ignore[misc]

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if https and request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith(_NO_STORE_PREFIXES) and "/static/" not in request.path:
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
        return response
