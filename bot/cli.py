"""The `tsunagu` command: serve, scheduler, demo, seed, db, staff, orgs, jobs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from bot.config import SettingsError, load_settings

log = logging.getLogger("tsunagu")


def main(argv: Sequence[str] | None = None) -> int:
    from dotenv import find_dotenv, load_dotenv

    # Only entry points read .env, from the directory the command runs in; the environment wins.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every run of every job (several lines every 5 s) and Alembic each plugin it
    # sets up: at INFO that buried the demo's addresses and the service's own lines. Their warnings
    # and errors still show.
    for chatty in ("apscheduler", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    # Waitress warns "Task queue depth is N" for every request that waits for a free thread: under a
    # burst, one line per webhook (3% of the process's CPU in bench/webhook_load.py, py-spy). Requests
    # waiting their turn is what a burst is; errors still show.
    logging.getLogger("waitress.queue").setLevel(max(logging.ERROR, logging.getLogger().level))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsunagu", description="Tsunagu LINE consultation service")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("serve", help="run the web app (waitress) with the in-process scheduler")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--no-scheduler", action="store_true", help="when `tsunagu scheduler` runs elsewhere")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("scheduler", help="run the scheduled jobs in this process only")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("demo", help="try it without a LINE account: emulator, sample consortium, console")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--database", default="sqlite:///tsunagu-demo.db")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("seed", help="add the sample consortium (organizations, canned replies)")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command")
    q = dbsub.add_parser("upgrade", help="bring the schema up to date")
    q.set_defaults(func=cmd_db_upgrade)
    q = dbsub.add_parser("revision", help="autogenerate a migration from the models (developers)")
    q.add_argument("-m", "--message", required=True)
    q.set_defaults(func=cmd_db_revision)

    p = sub.add_parser("jobs", help="run every scheduled job once now (not while a scheduler runs them)")
    p.add_argument("--force", action="store_true",
                   help="run even while a scheduler holds the lock (each sweep still acts on a row once)")
    p.set_defaults(func=cmd_jobs)

    from bot.cli_staff import add_staff_commands

    add_staff_commands(sub)
    from bot.cli_stats import add_stats_command

    add_stats_command(sub)
    from bot.cli_richmenu import add_richmenu_command

    add_richmenu_command(sub)
    from bot.cli_orgs import add_orgs_commands

    add_orgs_commands(sub)
    return parser


def _database_settings():  # noqa: ANN202
    return load_settings(require_line=False)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(_database_settings().database_url)
    upgrade(engine)
    print("database schema is up to date")
    return 0


def cmd_db_revision(args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import revision

    revision(make_engine(_database_settings().database_url), args.message)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from bot.seed import seed_sample_consortium
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade

    engine = make_engine(_database_settings().database_url)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        summary = seed_sample_consortium(session)
    print(summary)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.jobs import run_all
    from bot.scheduler import make_lock

    app = create_app(load_settings().with_(outbox_mode="inline"))
    svc = app.extensions["tsunagu"]
    lock = make_lock(svc)
    held = False
    try:
        held = lock.try_acquire()
        if not held and not getattr(args, "force", False):
            print("a scheduler is running the jobs already (it holds the scheduler lock); "
                  "use --force to run them here too", file=sys.stderr)
            return 1
        print(run_all(svc))
        return 0
    finally:
        if held:
            lock.release()
        svc.sender.stop()
        svc.engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    return serve(settings, args.host, args.port, threads=args.threads, scheduler=not args.no_scheduler)


def serve(settings, host: str, port: int, *, threads: int = 8, scheduler: bool = True,  # noqa: ANN001
          on_ready=None) -> int:  # noqa: ANN001
    from waitress import create_server

    from bot.app import create_app
    from bot.config import SettingsError, talks_to_real_line
    from bot.scheduler import LeadingScheduler
    from bot.security import API_MAX_BYTES
    from storage.db import make_engine
    from storage.migrate import upgrade

    if settings.line_emulator and talks_to_real_line(settings.line_api_base_url):
        raise SettingsError(["LINE_EMULATOR=on with the real LINE API address: refusing to serve"])
    engine = make_engine(settings.database_url)
    upgrade(engine)  # the schema is brought up to date on start
    engine.dispose()
    app = create_app(settings)
    svc = app.extensions["tsunagu"]
    sched = None
    if scheduler and settings.scheduler:
        sched = LeadingScheduler(svc)  # runs the jobs only while no other scheduler does
        sched.start()
    # Waitress refuses a larger body from its Content-Length before reading it (its default is 1 GiB).
    server = create_server(app, host=host, port=port, threads=threads, ident="tsunagu",
                           max_request_body_size=max(settings.webhook_max_bytes, API_MAX_BYTES))
    log.info("Tsunagu serving on http://%s:%s (hours: %s)", host, port, settings.hours().label())
    if on_ready is not None:
        on_ready(app)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if sched is not None:
            sched.stop()
        svc.sender.stop()
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.scheduler import LeadingScheduler

    settings = load_settings().with_(outbox_mode="off")
    app = create_app(settings)
    leader = LeadingScheduler(app.extensions["tsunagu"])
    log.info("scheduler started; it runs the jobs while it holds the scheduler lock (Ctrl+C to stop)")
    try:
        leader.run()
    except KeyboardInterrupt:
        pass
    finally:
        leader.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    raise SystemExit(main())
