"""`tsunagu staff add|token`: staff accounts from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime


def add_staff_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("staff", help="staff accounts")
    s = p.add_subparsers(dest="staff_command")
    q = s.add_parser("add", help="add a staff member")
    q.add_argument("login")
    q.add_argument("--role", required=True, choices=["counselor", "coordinator", "consortium", "admin"])
    q.add_argument("--org", default=None, help="organization slug (default: the default organization)")
    q.add_argument("--name", default=None, help="display name in the console")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q.set_defaults(func=cmd_staff_add)
    q = s.add_parser("token", help="print a new personal API token (the old one stops working)")
    q.add_argument("login")
    q.set_defaults(func=cmd_staff_token)


def _sessions():  # noqa: ANN202
    from bot.config import load_settings
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade

    engine = make_engine(load_settings(require_line=False).database_url)
    upgrade(engine)
    return make_session_factory(engine)


def cmd_staff_add(args: argparse.Namespace) -> int:
    from storage import consultations, staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 1
    now = datetime.now(UTC)
    with _sessions().begin() as db:
        org = (consultations.organization_by_slug(db, args.org) if args.org
               else consultations.ensure_default_organization(db, now))
        if org is None:
            print(f"no organization {args.org!r}", file=sys.stderr)
            return 1
        if staff.by_login(db, args.login):
            print(f"{args.login} exists already", file=sys.stderr)
            return 1
        try:
            staff.create(db, args.login, password, args.role, org, now, args.name)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
    print(f"added {args.login} ({args.role}, {org.slug})")
    return 0


def cmd_staff_token(args: argparse.Namespace) -> int:
    from storage import staff

    with _sessions().begin() as db:
        member = staff.by_login(db, args.login)
        if member is None:
            print(f"no staff member {args.login!r}", file=sys.stderr)
            return 1
        print(staff.issue_token(member))
    return 0
