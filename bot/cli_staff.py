"""`tsunagu staff add|token|tokens|revoke-token|password|disable`: staff accounts from the command line."""

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
    q = s.add_parser("token", help="print a new personal API token (shown once; it expires after API_TOKEN_DAYS)")
    q.add_argument("login")
    q.add_argument("--name", default=None, help="what the token is for (shown by `staff tokens`)")
    q.add_argument("--days", type=int, default=None, help="days until it expires (default: API_TOKEN_DAYS)")
    q.set_defaults(func=cmd_staff_token)
    q = s.add_parser("tokens", help="list a staff member's API tokens (never the tokens themselves)")
    q.add_argument("login")
    q.set_defaults(func=cmd_staff_tokens)
    q = s.add_parser("revoke-token", help="revoke an API token by its number (from `staff tokens`)")
    q.add_argument("token_id", type=int)
    q.set_defaults(func=cmd_staff_revoke_token)
    q = s.add_parser("password", help="set a new password (ends every console session of that person)")
    q.add_argument("login")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q.set_defaults(func=cmd_staff_password)
    q = s.add_parser("disable", help="disable an account: its sessions end and its tokens are revoked at once")
    q.add_argument("login")
    q.set_defaults(func=cmd_staff_disable)


def _sessions():  # noqa: ANN202
    from bot.config import load_settings
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade

    engine = make_engine(load_settings(require_line=False).database_url)
    upgrade(engine)
    return make_session_factory(engine)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        print("passwords differ", file=sys.stderr)
        return None
    return password


def cmd_staff_add(args: argparse.Namespace) -> int:
    from storage import consultations, staff

    password = _read_password(args.password_stdin)
    if password is None:
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
    from bot.config import load_settings
    from storage import staff

    days = args.days or load_settings(require_line=False).api_token_days
    if days <= 0:
        print("--days must be positive", file=sys.stderr)
        return 1
    with _sessions().begin() as db:
        member = staff.by_login(db, args.login)
        if member is None:
            print(f"no staff member {args.login!r}", file=sys.stderr)
            return 1
        print(staff.issue_token(member, datetime.now(UTC), days=days, name=args.name))
    return 0


def cmd_staff_tokens(args: argparse.Namespace) -> int:
    from storage import staff

    now = datetime.now(UTC)
    with _sessions().begin() as db:
        member = staff.by_login(db, args.login)
        if member is None:
            print(f"no staff member {args.login!r}", file=sys.stderr)
            return 1
        print(f"{'no.':>5}  {'name':<20} {'created':<17} {'expires':<17} {'last used':<17} state")
        for t in staff.tokens_of(db, member):
            state = "revoked" if t.revoked_at else ("expired" if t.expires_at <= now else "active")
            print(f"{t.id:>5}  {(t.name or '-')[:20]:<20} {_when(t.created_at)} {_when(t.expires_at)} "
                  f"{_when(t.last_used_at)} {state}")
    return 0


def cmd_staff_revoke_token(args: argparse.Namespace) -> int:
    from storage import staff

    with _sessions().begin() as db:
        if not staff.revoke_token(db, args.token_id, datetime.now(UTC)):
            print(f"no active token {args.token_id}", file=sys.stderr)
            return 1
    print(f"token {args.token_id} revoked")
    return 0


def cmd_staff_password(args: argparse.Namespace) -> int:
    from storage import staff

    password = _read_password(args.password_stdin)
    if password is None:
        return 1
    with _sessions().begin() as db:
        member = staff.by_login(db, args.login)
        if member is None:
            print(f"no staff member {args.login!r}", file=sys.stderr)
            return 1
        try:
            staff.set_password(db, member, password, datetime.now(UTC))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
    print(f"password changed for {args.login}; their console sessions have ended")
    return 0


def cmd_staff_disable(args: argparse.Namespace) -> int:
    from storage import staff

    with _sessions().begin() as db:
        member = staff.by_login(db, args.login)
        if member is None:
            print(f"no staff member {args.login!r}", file=sys.stderr)
            return 1
        staff.disable(db, member, datetime.now(UTC))
    print(f"{args.login} disabled; sessions ended and tokens revoked")
    return 0


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M").ljust(17) if value else "-".ljust(17)
