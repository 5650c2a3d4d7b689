"""`tsunagu orgs load FILE.toml | list`: the consortium's member organizations and routing rules as data."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime


def add_orgs_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("orgs", help="member organizations and routing rules (a consortium TOML file)")
    s = p.add_subparsers(dest="orgs_command")
    q = s.add_parser("load", help="check a consortium file and apply it (twice changes nothing; "
                                  "a file with a mistake is refused whole, every problem listed)")
    q.add_argument("file", help="e.g. flows/consortium.sample.toml")
    q.set_defaults(func=cmd_orgs_load)
    q = s.add_parser("list", help="the member organizations, whether each is staffed now, and the rules")
    q.set_defaults(func=cmd_orgs_list)


def _sessions():  # noqa: ANN202
    from bot.config import load_settings
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade

    settings = load_settings(require_line=False)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return settings, make_session_factory(engine)


def cmd_orgs_load(args: argparse.Namespace) -> int:
    from flows.organizations import ConsortiumFileError, load_file

    _, sessions = _sessions()
    try:
        with sessions.begin() as db:
            report = load_file(db, args.file, datetime.now(UTC))
    except ConsortiumFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def cmd_orgs_list(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from flows import organizations
    from storage import organizations as org_repo

    settings, sessions = _sessions()
    tz, now = ZoneInfo(settings.service_timezone), datetime.now(UTC)
    with sessions() as db:
        for o in org_repo.all_organizations(db):
            state = ("shared queue" if o.is_default else "inactive" if not o.active
                     else "staffed now" if organizations.is_staffed(o, now, tz) else "not staffed now")
            print(f"{o.slug:<16} {o.kind:<22} capacity {o.capacity or '-':<3} {state:<16} "
                  f"{organizations.evenings_of(o).label()}")
        for r in org_repo.rules(db):
            print(f"rule {r.position + 1}: {r.name} -> {', '.join(r.targets)}")
    return 0
