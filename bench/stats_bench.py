"""Coordinator statistics at the size of a national service: five fiscal years of data (FY2021-FY2025;
at full scale 1,000,000 consultations and 20,000,000 messages), bulk-loaded into PostgreSQL (COPY via
psycopg) and SQLite (executemany), then every dashboard query timed for one fiscal year (FY2025), for
all member organizations and for one.

    .venv/bin/python bench/stats_bench.py                      # full scale, both databases
    .venv/bin/python bench/stats_bench.py --scale 0.05 --only sqlite
    .venv/bin/python bench/stats_bench.py --reuse              # time again without reloading

The schema is built by the project's Alembic migrations (with the stats indexes); the non-unique
indexes are dropped during the load and rebuilt after it, as a bulk load would. The rollup triggers
(storage/rollups.py) are off during the load too: the rows carry the rollups as the triggers would have
written them, and a full recomputation after the load must change no row (the bench says how many it did).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from storage import rollups, stats  # noqa: E402
from storage.db import make_engine, make_session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Base  # noqa: E402

FULL_CONSULTATIONS = 1_000_000
FULL_MESSAGES = 20_000_000
START = datetime(2021, 3, 31, 15, 0, tzinfo=UTC)  # 2021-04-01 00:00 JST
DAYS = 1826  # five fiscal years
ORGS = 20
COUNSELORS = 400
WHO = ["self"] * 5 + ["family"] * 4 + ["other"]
AGES = ["10s", "20s", "30s", "40s", "50plus", "no_answer"]
AREAS = [f"area{i:02d}" for i in range(11)]
CONCERNS = ["work", "family", "money", "health", "belonging", "other"]
REFERRALS = ["family_association", "regional_center", "support_station", "peer_group", "ibasho", "medical",
             "government", "other"]
MILESTONES = ["group_program", "family_association", "support_station", "job_search", "next_step"]


class Data:
    """Deterministic generators: the same rows for both databases."""

    def __init__(self, scale: float, seed: int = 11) -> None:
        self.n_consultations = max(1000, int(FULL_CONSULTATIONS * scale))
        self.n_messages = max(20_000, int(FULL_MESSAGES * scale))
        self.n_clients = max(400, self.n_consultations * 2 // 5)
        self.unattached = self.n_messages // 50  # messages sent while closed
        self.per_consultation = (self.n_messages - self.unattached) / self.n_consultations
        self.seed = seed

    def organizations(self) -> Iterator[tuple]:
        for i in range(1, ORGS + 1):
            yield (i, f"org{i:02d}", f"団体{i:02d}", "npo", i == 1, True, START)

    def staff(self) -> Iterator[tuple]:
        for i in range(1, COUNSELORS + 1):
            yield (i, f"c{i:04d}", f"相談員{i:04d}", "counselor", (i - 1) % ORGS + 1, "x", True, None, START, None)

    def clients(self) -> Iterator[tuple]:
        rnd = random.Random(self.seed)
        for i in range(1, self.n_clients + 1):
            first = START + timedelta(seconds=rnd.randrange(DAYS * 86400))
            blocked = rnd.random() < 0.15
            yield (i, f"h{i:063d}", None, f"相談者-{i:08d}", not blocked, first,
                   first + timedelta(days=30) if blocked else None, first, first, first, None, rnd.random() < 0.02)

    def friend_events(self) -> Iterator[tuple]:
        rnd = random.Random(self.seed)
        n = 0
        for i in range(1, self.n_clients + 1):
            first = START + timedelta(seconds=rnd.randrange(DAYS * 86400))
            blocked = rnd.random() < 0.15
            rnd.random()
            n += 1
            yield (n, i, "follow", first, False)
            if blocked:
                n += 1
                yield (n, i, "block", first + timedelta(days=30), False)
                if i % 3 == 0:
                    n += 1
                    yield (n, i, "follow", first + timedelta(days=60), True)  # a re-follow (the rollup)

    def created_offsets(self) -> list[int]:
        """Creation times in seconds from START, in order: rows arrive in time order, as in production."""
        if not hasattr(self, "_offsets"):
            rnd = random.Random(self.seed + 5)
            out = []
            for _ in range(self.n_consultations):
                hour = rnd.choice([7, 8, 9, 10, 11, 11, 12, 13]) if rnd.random() < 0.9 else rnd.randrange(24)
                out.append(rnd.randrange(DAYS) * 86400 + hour * 3600 + rnd.randrange(3600))  # 16-21 JST mostly
            out.sort()
            self._offsets = out
        return self._offsets

    def _consultation(self, rnd: random.Random, cid: int) -> tuple:
        created = START + timedelta(seconds=self.created_offsets()[cid - 1])
        client = rnd.randrange(1, self.n_clients + 1)
        training = client % 50 == 0
        queued = created + timedelta(seconds=rnd.randrange(60, 400)) if rnd.random() < 0.93 else None
        risk = rnd.choices(["none", "moderate", "high", "imminent"], [88, 8, 3, 1])[0]
        rank = {"none": 0, "moderate": 1, "high": 2, "imminent": 3}[risk]
        claimed = first = closed = None
        state = "closed"
        disposition = referral = survey = reason = None
        counselor = None
        if queued is None:
            closed, reason = created + timedelta(minutes=30), "intake_expired"
        elif rnd.random() < 0.85:
            wait = rnd.expovariate(1 / (120 if rank >= 2 else 700))
            claimed = queued + timedelta(seconds=wait)
            first = claimed + timedelta(seconds=rnd.randrange(10, 300))
            closed = claimed + timedelta(seconds=rnd.randrange(600, 5400))
            counselor = rnd.randrange(1, COUNSELORS + 1)
            reason = "counselor"
            disposition = rnd.choice(["continuing", "information", "referral", "referral", "emergency", "dropped"])
            referral = rnd.choice(REFERRALS) if disposition == "referral" else None
            survey = rnd.choice(["good", "good", "ok", "bad", None, None])
        else:
            closed, reason = queued + timedelta(seconds=rnd.randrange(60, 3600)), "user_withdrew"
        org = (counselor - 1) % ORGS + 1 if counselor else rnd.randrange(1, ORGS + 1)
        flagged = created + timedelta(seconds=rnd.randrange(0, 600)) if rank else None
        answered = queued is not None
        return (cid, client, org, state, training, None, None, "{}", None,
                rnd.choice(WHO) if answered else None, rnd.choice(AGES) if answered else None,
                rnd.choice(AREAS) if answered else None, rnd.choice(CONCERNS) if answered else None,
                risk, rank, "[]", "[]", flagged, flagged, counselor, created, queued, claimed, closed, None, None,
                first, None, None, reason, disposition, referral, survey, counselor), created, closed, counselor

    def consultations(self) -> Iterator[tuple]:
        """With the first-queued rollup as the triggers write it when a consultation joins the queue (rows
        come in creation order, so a client's first queued one is the first seen)."""
        rnd = random.Random(self.seed + 1)
        first: dict[tuple[int, bool], datetime] = {}
        for cid in range(1, self.n_consultations + 1):
            row = self._consultation(rnd, cid)[0]
            created, queued = row[20], row[21]
            yield (*row, first.setdefault((row[1], row[4]), created) if queued else None)

    def messages(self) -> Iterator[tuple]:
        rnd = random.Random(self.seed + 1)
        mrnd = random.Random(self.seed + 2)
        purge_before = START + timedelta(days=DAYS - 365)
        mid = 0
        budget = self.per_consultation
        for cid in range(1, self.n_consultations + 1):
            row, created, closed, counselor = self._consultation(rnd, cid)
            client = row[1]
            k = int(budget) + (1 if mrnd.random() < budget - int(budget) else 0)
            span = max(1.0, (closed - created).total_seconds())
            for j in range(k):
                mid += 1
                at = created + timedelta(seconds=span * j / max(1, k))
                inbound = j % 2 == 0
                sender = "user" if inbound else ("counselor" if counselor and j > 2 else "bot")
                purged = at < purge_before
                yield (mid, client, cid, "in" if inbound else "out", sender,
                       counselor if sender == "counselor" else None, "text", None if purged else "こんばんは",
                       at + timedelta(days=365) if purged else None, "none" if inbound else None, None, at)
        for _ in range(self.unattached):
            mid += 1
            at = START + timedelta(seconds=mrnd.randrange(DAYS * 86400))
            yield (mid, mrnd.randrange(1, self.n_clients + 1), None, "in", "user", None, "text", None, None, "none",
                   None, at)

    def milestones(self) -> Iterator[tuple]:
        rnd = random.Random(self.seed + 3)
        for i in range(1, self.n_consultations // 10 + 1):
            cid = rnd.randrange(1, self.n_consultations + 1)
            kind = rnd.choice(MILESTONES)
            on = (START + timedelta(days=rnd.randrange(DAYS), hours=9)).date()
            yield (i, rnd.randrange(1, self.n_clients + 1), cid, rnd.randrange(1, ORGS + 1), None, kind,
                   rnd.choice(["work", "school", "training"]) if kind == "next_step" else None, on, False,
                   START + timedelta(days=1))


TABLES: list[tuple[str, tuple[str, ...], str]] = [
    ("organizations", ("id", "slug", "name", "kind", "is_default", "active", "created_at"), "organizations"),
    ("staff", ("id", "login", "display_name", "role", "organization_id", "password_hash", "active", "max_active",
               "created_at", "last_login_at"), "staff"),
    ("clients", ("id", "user_hash", "line_user_id", "pseudonym", "is_friend", "followed_at", "blocked_at",
                 "first_seen_at", "last_seen_at", "consented_at", "last_hours_notice_at", "is_training"), "clients"),
    ("friend_events", ("id", "client_id", "kind", "occurred_at", "refollow"), "friend_events"),
    ("consultations", ("id", "client_id", "organization_id", "state", "is_training", "flow_name", "flow_step",
                       "flow_data", "flow_expires_at", "who", "age_band", "area", "concern", "risk_level",
                       "risk_rank", "risk_cues", "risk_topics", "risk_flagged_at", "emergency_sent_at",
                       "counselor_id", "created_at", "queued_at", "claimed_at", "closed_at",
                       "last_user_message_at", "last_counselor_message_at", "first_response_at",
                       "waiting_notice_at", "waiting_ack_at", "close_reason", "disposition", "referral", "survey",
                       "closed_by_id", "client_first_queued_at"), "consultations"),
    ("messages", ("id", "client_id", "consultation_id", "direction", "sender", "staff_id", "kind", "text",
                  "text_purged_at", "risk_level", "outbox_id", "created_at"), "messages"),
    ("milestones", ("id", "client_id", "consultation_id", "organization_id", "staff_id", "kind", "next_step",
                    "occurred_on", "is_training", "recorded_at"), "milestones"),
]


def fresh_schema(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    engine.dispose()


def load_postgres(url: str, data: Data) -> None:
    import psycopg

    fresh_schema(url)
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK or rollup triggers during the load
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename IN ('messages', 'consultations', 'friend_events', 'milestones', 'clients') "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("DELETE FROM organizations")  # the migration's default organization: ours replace it
        for table, cols, gen in TABLES:
            t0 = time.perf_counter()
            n = 0
            with conn.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in getattr(data, gen)():
                    copy.write_row(row)
                    n += 1
            conn.commit()
            print(f"  postgresql: {table:14s} {n:>11,} rows in {time.perf_counter() - t0:7.1f} s", flush=True)
        t0 = time.perf_counter()
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.commit()
        for table, _, _ in TABLES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        print(f"  postgresql: {len(indexes)} indexes rebuilt in {time.perf_counter() - t0:.1f} s", flush=True)
        conn.autocommit = True
        t0 = time.perf_counter()
        for table, _, _ in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        print(f"  postgresql: VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s", flush=True)
    _check_rollups(url, "postgresql")


def _sqlite_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def load_sqlite(path: str, data: Data) -> None:
    Path(path).unlink(missing_ok=True)
    fresh_schema(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    # The rollup triggers would each search an unindexed table: off for the load (the rows carry the
    # rollups), back on after it, as for the indexes.
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("DELETE FROM organizations")  # the migration's default organization: ours replace it
    for table, cols, gen in TABLES:
        t0 = time.perf_counter()
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        n = 0
        batch: list[tuple] = []
        for row in getattr(data, gen)():
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 50_000:
                conn.executemany(sql, batch)
                n += len(batch)
                batch.clear()
        conn.executemany(sql, batch)
        n += len(batch)
        conn.commit()
        print(f"  sqlite:     {table:14s} {n:>11,} rows in {time.perf_counter() - t0:7.1f} s", flush=True)
    t0 = time.perf_counter()
    for _, ddl in indexes + triggers:
        conn.execute(ddl)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"  sqlite:     {len(indexes)} indexes and {len(triggers)} triggers rebuilt + ANALYZE in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    _check_rollups(f"sqlite:///{path}", "sqlite")


def _check_rollups(url: str, label: str) -> None:
    """The loader writes the rollups itself (the triggers are off during a bulk load); recomputing them
    from scratch must change nothing."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        changed = rollups.backfill(conn)
    engine.dispose()
    print(f"  {label + ':':11s} rollups recomputed in {time.perf_counter() - t0:.1f} s: {changed} rows changed"
          f"{'' if not changed else ' (the loader wrote them wrong)'}", flush=True)


def _server_cpu(session) -> float | None:  # noqa: ANN001
    """CPU seconds used so far by the PostgreSQL backend serving this session (local server only): with
    8 helpers sharing 2 cores, wall time mostly measures waiting for a core."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_queries(url: str, label: str, repeat: int) -> dict[str, float]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    period = stats.fiscal_year(2025)
    worst: dict[str, float] = {}
    with sessions() as session:
        n = session.scalar(text("SELECT count(*) FROM consultations"))
        m = session.scalar(text("SELECT max(id) FROM messages"))
        print(f"\n{label}: {n:,} consultations, {m:,} messages; FY2025 ({period.first_day}..{period.last_day})")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall seconds (first, best of "
              f"{repeat}); cpu = seconds of CPU the query took (database server + this Python process), best")
        print(f"  {'query':16s} {'scope':9s} {'first':>8s} {'best':>8s} {'cpu':>8s}   result")
        for scope_label, scope in (("all", stats.Scope()), ("org01", stats.Scope((1,)))):
            for name in stats.DASHBOARD_QUERIES:
                fn: Callable = getattr(stats, name)
                times, cpus = [], []
                for _ in range(repeat):
                    session.rollback()  # each query in a transaction of its own, as a page request
                    s0, c0, t0 = _server_cpu(session), time.process_time(), time.perf_counter()
                    result = fn(session, period, scope)
                    times.append(time.perf_counter() - t0)
                    s1 = _server_cpu(session)
                    cpus.append((time.process_time() - c0) + ((s1 - s0) if s0 is not None and s1 is not None else 0))
                worst[f"{name}/{scope_label}"] = min(times)
                print(f"  {name:16s} {scope_label:9s} {times[0]:8.3f} {min(times):8.3f} {min(cpus):8.3f}   "
                      f"{_brief(result)}", flush=True)
        t0 = time.perf_counter()
        rows = sum(1 for _ in stats.export_consultations(session, period, stats.Scope(), b"bench-key"))
        print(f"  export_consultations (all, FY2025): {rows:,} rows in {time.perf_counter() - t0:.2f} s")
    engine.dispose()
    slow = {k: v for k, v in worst.items() if v >= 1.0}
    print(f"  slowest (best of {repeat}): {max(worst, key=worst.get)} {max(worst.values()):.3f} s; "
          f"{'every query under 1 s' if not slow else 'over 1 s: ' + ', '.join(slow)}")
    return worst


def _brief(result: object) -> str:
    if isinstance(result, dict):
        if "wait" in result:
            return f"wait median {result['wait']['median']} s p90 {result['wait']['p90']} s (n={result['wait']['n']})"
        if "total" in result:
            return (f"total {result['total']:,}, clients {result['clients']:,}, "
                    f"returning clients {result['returning_clients']:,}")
        if "organizations" in result:
            return f"{len(result['organizations'])} organizations, {len(result['counselors'])} counselors"
        return ", ".join(f"{k}={v}" for k, v in list(result.items())[:4])
    if isinstance(result, list):
        return f"{len(result)} points"
    return str(result)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the national scale (default 1.0)")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/tsunagu_stats",
                    help="the data goes into its own schema (--pg-schema) of this database")
    ap.add_argument("--pg-schema", default="stats_bench")
    ap.add_argument("--sqlite", default="/tmp/tsunagu_stats_bench.db")
    ap.add_argument("--only", choices=["postgres", "sqlite"])
    ap.add_argument("--reuse", action="store_true", help="time the data already loaded")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = Data(args.scale)
    if args.pg_schema and args.only != "sqlite":
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{args.pg_schema}"')
        sep = "&" if "?" in args.postgres else "?"
        args.postgres += f"{sep}options=-csearch_path%3D{args.pg_schema}"
    print(f"scale {args.scale}: {data.n_consultations:,} consultations, ~{data.n_messages:,} messages, "
          f"{data.n_clients:,} clients, five fiscal years FY2021-FY2025", flush=True)
    if args.only != "sqlite":
        if not args.reuse:
            t0 = time.perf_counter()
            load_postgres(args.postgres, data)
            print(f"  postgresql: loaded in {time.perf_counter() - t0:.0f} s", flush=True)
        time_queries(args.postgres, "PostgreSQL", args.repeat)
    if args.only != "postgres":
        if not args.reuse:
            t0 = time.perf_counter()
            load_sqlite(args.sqlite, data)
            print(f"  sqlite: loaded in {time.perf_counter() - t0:.0f} s", flush=True)
        time_queries(f"sqlite:///{args.sqlite}", "SQLite", args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
