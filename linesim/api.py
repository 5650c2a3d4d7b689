"""HTTP face of the emulator: the Messaging API as the SDK calls it, and JSON control routes.

The blueprint works at any url_prefix: with prefix "/line-emulator" the SDK's host is
"http://HOST:PORT/line-emulator". Control routes (`/_emulator/...`) play the users' side for tests and
the demo chat page; they are never subject to injected faults. Webhooks they trigger are POSTed while
the control request is open, so the server must be threaded when the bot runs in the same process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, request

from linesim.platform import LinePlatform, UnknownUserError

API_METHODS = ["GET", "POST", "PUT", "DELETE"]


def create_blueprint(platform: LinePlatform, name: str = "line_emulator") -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.route("/v2/<path:rest>", methods=API_METHODS)
    def messaging_api(rest: str) -> Response:
        answer = platform.handle_api(request.method, "/v2/" + rest, request.headers, request.get_data())
        return _json(answer.body, answer.status, answer.headers)

    @bp.route("/blob/v2/<path:rest>", methods=API_METHODS)
    def blob_api(rest: str) -> Response:
        """The blob host (api-data.line.me): point `MessagingApiBlob` at `<emulator>/blob`."""
        answer = platform.handle_api(request.method, "/v2/" + rest, request.headers, request.get_data(), blob=True)
        if answer.raw is not None:
            return Response(answer.raw, status=answer.status, headers=answer.headers, mimetype=answer.content_type)
        return _json(answer.body, answer.status, answer.headers)

    @bp.get("/_emulator/richmenus")
    def rich_menus() -> Response:
        return _json(platform.rich_menus())

    @bp.get("/_emulator/users")
    def list_users() -> Response:
        return _json({"users": platform.users()})

    @bp.post("/_emulator/users")
    def add_user() -> Response:
        name = _payload().get("display_name")
        if name is not None and not isinstance(name, str):
            return _json({"message": "display_name must be a string"}, 400)
        user_id = platform.add_user(name)
        return _json({"id": user_id}, 201)

    @bp.post("/_emulator/users/<user_id>/follow")
    def follow(user_id: str) -> Response:
        return _user_acts(platform, lambda: platform.follow_event(user_id))

    @bp.post("/_emulator/users/<user_id>/unfollow")
    def unfollow(user_id: str) -> Response:
        return _user_acts(platform, lambda: platform.unfollow_event(user_id))

    @bp.post("/_emulator/users/<user_id>/messages")
    def send_text(user_id: str) -> Response:
        text = _payload().get("text")
        if not isinstance(text, str) or not text:
            return _json({"message": "text is required"}, 400)
        return _user_acts(platform, lambda: platform.text_event(user_id, text))

    @bp.post("/_emulator/users/<user_id>/postback")
    def postback(user_id: str) -> Response:
        payload = _payload()
        data, params = payload.get("data"), payload.get("params")
        if not isinstance(data, str) or not (params is None or isinstance(params, dict)):
            return _json({"message": "data (a string) is required; params must be an object"}, 400)
        return _user_acts(platform, lambda: platform.postback_event(user_id, data, params))

    @bp.get("/_emulator/users/<user_id>/inbox")
    def inbox(user_id: str) -> Response:
        since = request.args.get("since", "0")
        if not since.isdigit():
            return _json({"message": "since must be a non-negative integer"}, 400)
        try:
            messages = platform.inbox(user_id, int(since))
        except UnknownUserError:
            return _no_such_user()
        return _json({"messages": messages, "next": int(since) + len(messages)})

    @bp.post("/_emulator/users/<user_id>/read")
    def read(user_id: str) -> Response:
        try:
            platform.mark_read_by_user(user_id)
        except UnknownUserError:
            return _no_such_user()
        return _json({})

    @bp.post("/_emulator/faults")
    def add_faults() -> Response:
        payload = _payload()
        count, status, stall = payload.get("count", 1), payload.get("status"), payload.get("stall")
        try:
            if stall is not None:
                if type(stall) not in (int, float) or not 0 < stall <= 600:
                    raise ValueError("stall must be a number of seconds (0-600]")
                platform.stall_next(_int(count), float(stall), None if status is None else _int(status))
            else:
                platform.fail_next(_int(count), _int(500 if status is None else status))
        except ValueError as error:
            return _json({"message": str(error)}, 400)
        return _json({"pending": platform.pending_faults()})

    @bp.delete("/_emulator/faults")
    def clear_faults() -> Response:
        platform.clear_faults()
        return _json({"pending": 0})

    return bp


def create_emulator_app(platform: LinePlatform) -> Flask:
    """The emulator alone, for `EmulatorServer` (standalone LINE_API_BASE_URL is its root)."""
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(platform))
    return app


def _user_acts(platform: LinePlatform, build: Callable[[], dict[str, Any]]) -> Response:
    """The user does something on the phone: the event is built and delivered to the bot's webhook."""
    if not platform.webhook_url:
        return _json({"message": "no webhook URL is set on the platform"}, 409)
    try:
        event = build()
    except UnknownUserError:
        return _no_such_user()
    try:
        status = platform.deliver([event])
    except OSError as error:  # the bot is down: LINE would try later (or never); the page should say so
        return _json({"message": f"webhook unreachable: {type(error).__name__}", "event": event}, 502)
    return _json({"event": event, "webhook_status": status})


def _payload() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else {}


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError("count and status must be integers")
    return value


def _no_such_user() -> Response:
    return _json({"message": "no such user"}, 404)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    mimetype="application/json")
