"""Coordinator statistics (/console/stats) and client milestones (/api/v1/consultations/ID/milestones)."""

from flask import Flask


def register(app: Flask) -> None:
    from bot.stats.milestones import api_bp, page_bp
    from bot.stats.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(page_bp)
