"""/simulator: a phone-sized LINE-style chat page over the emulator's control routes, and the
training scenarios' start buttons. Only mounted when the emulator is on."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, render_template

from linesim.platform import LinePlatform
from linesim.training import SCENARIOS, Runner, scenario


def create_page_blueprint(platform: LinePlatform) -> Blueprint:
    bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates",
                   static_folder="static")

    @bp.get("/")
    def page() -> str:
        return render_template("simulator.html", scenarios=SCENARIOS, api="/line-emulator/_emulator")

    @bp.post("/training/<slug>")
    def start_training(slug: str) -> tuple[Response, int]:
        sc = scenario(slug)
        if sc is None:
            return jsonify(error="no such scenario"), 404
        svc = current_app.extensions["tsunagu"]  # captured here: the runner's thread has no app context
        Runner(platform, before_first_event=lambda uid: mark_training_user(svc, uid)).start(sc)
        return jsonify(started=sc.slug), 202

    return bp


def mark_training_user(svc, line_user_id: str) -> None:  # noqa: ANN001
    from storage.clients import mark_training

    with svc.sessions.begin() as db:
        mark_training(db, svc.policy.hash_key, line_user_id, datetime.now(UTC))
