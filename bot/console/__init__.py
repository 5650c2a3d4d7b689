"""The counselor console (/console) and its JSON API (/api/v1)."""

from flask import Flask


def register(app: Flask) -> None:
    # These add their routes to the two blueprints below.
    from bot.console import api_workspace, manage, staff_pages  # noqa: F401
    from bot.console.api import bp as api_bp
    from bot.console.evening_api import bp as evening_api_bp
    from bot.console.pages import bp as pages_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(evening_api_bp)  # dead letters, typing (issue 10)
    app.register_blueprint(pages_bp)
    from bot.console.orgs import bp as orgs_bp  # issue 10: admins edit the member organizations

    app.register_blueprint(orgs_bp)
    from bot.stats import register as register_stats

    register_stats(app)
