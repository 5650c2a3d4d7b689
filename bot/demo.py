"""`tsunagu demo`: try Tsunagu without a LINE account — a fresh SQLite database, the sample
consortium, demo staff, the LINE emulator and chat simulator, hours open around the clock."""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings

DEMO_STAFF = [
    # login, role, display name, password (local demo only; printed on start), member (None: the shared queue)
    ("demo-counselor", "counselor", "相談員（家族会・デモ）", "demo-counselor-pass", "kazokukai"),
    ("demo-counselor2", "counselor", "相談員（サポステ・デモ）", "demo-counselor2-pass", "saposute"),
    ("demo-coordinator", "coordinator", "コーディネーター（デモ）", "demo-coordinator-pass", "kazokukai"),
    ("demo-admin", "admin", "管理者（デモ）", "demo-admin-pass", None),
]


def demo_settings(host: str, port: int, database: str) -> Settings:
    return Settings(
        line_channel_secret=secrets.token_hex(16),
        line_channel_access_token=secrets.token_urlsafe(32),
        line_api_base_url=f"http://{host}:{port}/line-emulator",
        line_emulator=True,
        database_url=database,
        secret_key=secrets.token_urlsafe(32),
        service_hours="always",
        areas=("札幌市", "旭川市", "函館市"),
        session_cookie_secure=False,
        line_emulator_webhook_url=f"http://{host}:{port}/callback",  # configured, never learned from a request
    )


def prepare_database(database: str) -> None:
    """A fresh database each run, with the sample consortium and demo staff."""
    from bot.seed import seed_sample_consortium
    from storage import consultations, staff
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade

    if database.startswith("sqlite:///"):
        path = Path(database.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    engine = make_engine(database)
    upgrade(engine)
    now = datetime.now(UTC)
    with make_session_factory(engine).begin() as db:
        seed_sample_consortium(db, now)  # flows/consortium.sample.toml: members and routing rules
        shared = consultations.ensure_default_organization(db, now)
        for login, role, name, password, member in DEMO_STAFF:
            org = consultations.organization_by_slug(db, member) if member else shared
            staff.create(db, login, password, role, org or shared, now, name)
    engine.dispose()


def run_demo(args: argparse.Namespace) -> int:
    from bot.cli import serve

    prepare_database(args.database)
    settings = demo_settings(args.host, args.port, args.database)
    base = f"http://{args.host}:{args.port}"

    def ready(app) -> None:  # noqa: ANN001
        print("\n  つなぐ demo is running (Ctrl+C to stop)\n")
        print(f"  LINE simulator (be an anonymous user):  {base}/simulator/")
        print(f"  Counselor console:                      {base}/console/")
        print("  Demo accounts:")
        for login, role, _, password, member in DEMO_STAFF:
            print(f"    {login:<18} {password:<24} ({role}, {member or 'shared queue'})")
        print(flush=True)

    return serve(settings, args.host, args.port, on_ready=ready)
