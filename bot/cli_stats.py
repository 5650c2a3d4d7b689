"""`tsunagu stats`: the dashboard's figures on the terminal, or a CSV export (audited like the page's)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo


def add_stats_command(sub: Any) -> None:
    p = sub.add_parser("stats", help="coordinator statistics for a period (all members unless --org)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--fy", type=int, help="fiscal year starting 1 April (default: the current one)")
    when.add_argument("--month", help="YYYY-MM")
    when.add_argument("--from", dest="first", help="YYYY-MM-DD (with --to)")
    p.add_argument("--to", dest="last", help="YYYY-MM-DD")
    p.add_argument("--org", help="one member organization (slug)")
    p.add_argument("--training", choices=["exclude", "only"], default="exclude")
    p.add_argument("--csv", choices=["aggregates", "consultations"], help="print a CSV export instead")
    p.add_argument("--json", action="store_true", help="the figures as JSON (unsuppressed counts when --org)")
    p.set_defaults(func=cmd_stats)


def _period(args: argparse.Namespace, zone: str, today: date) -> Any:
    from storage import stats

    if args.month:
        y, m = (int(x) for x in args.month.split("-"))
        return stats.month(y, m, zone)
    if args.first:
        if not args.last:
            raise SystemExit("--from needs --to")
        return stats.custom(date.fromisoformat(args.first), date.fromisoformat(args.last), zone)
    return stats.fiscal_year(args.fy if args.fy is not None else stats.fiscal_year_of(today), zone)


def cmd_stats(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from storage.db import make_engine, make_session_factory

    settings = load_settings(require_line=False)
    zone = settings.service_timezone
    now = datetime.now(UTC)
    period = _period(args, zone, now.astimezone(ZoneInfo(zone)).date())
    engine = make_engine(settings.database_url)
    try:
        return _run(args, make_session_factory(engine), settings, period, now)
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, sessions: Any, settings: Any, period: Any, now: datetime) -> int:
    import hashlib

    from bot.stats import views
    from storage import audit, stats
    from storage.consultations import organization_by_slug

    with sessions.begin() as db:
        ids = None
        if args.org:
            org = organization_by_slug(db, args.org)
            if org is None:
                print(f"unknown organization {args.org!r}", file=sys.stderr)
                return 2
            ids = (org.id,)
        scope = stats.Scope(ids, args.training)
        q = _CliQuery(period, scope, args.org or "", args.training)
        if args.csv == "consultations":
            key = hashlib.sha256(b"tsunagu-export-key:" + settings.secret_key.encode()).digest()
            audit.record(db, None, "stats_export", now, detail=f"consultations {q.describe()} via cli")
            rows = ([row[c] for c in stats.EXPORT_COLUMNS]
                    for row in stats.export_consultations(db, period, scope, key))
            for chunk in views.csv_text(iter([list(stats.EXPORT_COLUMNS), *rows])):
                sys.stdout.write(chunk)
            return 0
        data = stats.dashboard(db, period, scope)
        if args.csv == "aggregates":
            audit.record(db, None, "stats_export", now, detail=f"aggregates {q.describe()} via cli")
            for chunk in views.csv_text(views.aggregate_rows(data, q)):
                sys.stdout.write(chunk)
            return 0
        if args.json:
            print(json.dumps(data, default=str, ensure_ascii=False, indent=1))
            return 0
        _print(data, q)
    return 0


class _CliQuery:
    """What `aggregate_rows` needs of a page request."""

    def __init__(self, period: Any, scope: Any, org: str, training: str) -> None:
        self.period, self.scope, self.org, self.training = period, scope, org, training

    @property
    def crosses(self) -> bool:
        return self.scope.crosses_members

    def describe(self) -> str:
        return f"{self.period.first_day}..{self.period.last_day} org={self.org or 'all'} training={self.training}"


def _print(data: dict[str, Any], q: _CliQuery) -> None:
    from bot.stats import views

    v = views.view_model(data, q)  # type: ignore[arg-type]
    print(f"{q.period.label} ({q.period.first_day}..{q.period.last_day}, JST) "
          f"{q.org or '全構成団体'}{'・研修のみ' if q.training == 'only' else ''}")
    for title, rows in (("LINE友だち", v["friends"]), ("相談", v["totals"]), ("紹介先", v["referrals"]),
                        ("マイルストーン", v["milestones"]), ("ラベル", v["labels"]), ("待機と離脱", v["queue"]),
                        ("危機", v["crisis"]),
                        ("アンケート", v["survey"]), ("受付時間外", v["outside_hours"] or [])):
        print(f"\n[{title}]")
        for label, value in rows:
            print(f"  {label}: {value}")
    print("\n[時間]（件数 / 中央値 / 90パーセンタイル）")
    for label, d in v["service"]:
        print(f"  {label}: {d['n']} / {d['median']} / {d['p90']}")
    print("\n[構成団体ごとの負荷]（相談 / 対応 / 対応前に離れた / 危機）")
    for r in v["load_orgs"]:
        print(f"  {r['name']}: {r['consultations']} / {r['answered']} / {r['left_unanswered']} / {r['crises']}")
