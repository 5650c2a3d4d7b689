"""Tsunagu's spine under load, side by side with a plain line-bot-sdk echo bot, in one run.

For each database it starts, as separate processes on loopback:
- the stand-in LINE API (`bench/standin_line.py`), which records when each message was accepted;
- the baseline (`bench/baseline_echo.py`, line-bot-sdk's flask-echo: one synchronous reply per text)
  under gunicorn with the same number of worker processes as Tsunagu gets;
- Tsunagu itself: on SQLite one process (`tsunagu serve`: waitress, event workers, sender, scheduler);
  on PostgreSQL two web worker processes (gunicorn, `SCHEDULER=off`) and one `tsunagu scheduler`.

Each gets the same load of signed first messages from distinct new users (one event per webhook):
1. full speed (closed loop, 16 connections): completed events/s, where an event is complete when its
   reply has been accepted by the platform;
2. a fixed 300 events/s (open loop) with one crisis text in the middle: ack latency p50/p99 and
   end-to-end latency (event posted -> reply accepted) p50/p99, and how long the crisis text took to
   get its emergency contacts accepted.
Then it checks, from the database and the platform's records, events handled once/twice/never and
messages delivered once/twice/never.

    .venv/bin/python bench/webhook_load.py [--events 6000] [--rate 300] [--seconds 10] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402

SECRET, TOKEN = "bench-secret-0123456789", "bench-token"
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def processes(*commands: tuple[list[str], dict[str, str]], log_dir: Path):
    procs = []
    try:
        for n, (cmd, env) in enumerate(commands):
            log = open(log_dir / f"proc-{n}-{Path(cmd[0]).name}.log", "w")  # noqa: SIM115
            procs.append(subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=ROOT, start_new_session=True))
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


class StandIn:
    def __init__(self, log_dir: Path) -> None:
        port_file = log_dir / "standin.port"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench/standin_line.py"), "--port-file",
                                      str(port_file)], cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("stand-in did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, path: str, data: dict | None = None) -> dict:
        req = urllib.request.Request(self.url + path, method="POST" if data is not None else "GET",
                                     data=json.dumps(data).encode() if data is not None else None)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def calls(self) -> list[list]:
        return self.call("/_stats")["calls"]

    def reset(self) -> None:
        self.call("/_reset", {})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def accepted_by_user(calls: list[list], token_user: dict[str, str]) -> dict[str, list[list]]:
    by_user: dict[str, list[list]] = {}
    for call in calls:
        kind, key, to = call[0], call[1], call[2]
        user = token_user.get(key) if kind == "reply" else to
        if user is not None:
            by_user.setdefault(user, []).append(call)
    return by_user


def wait_complete(standin: StandIn, load: loadgen.Load, seconds: float) -> dict[str, list[list]]:
    """Until every user has had at least one message accepted (or `seconds` pass)."""
    token_user = dict(zip(load.tokens, load.users, strict=True))
    wanted = set(load.users)
    deadline = time.monotonic() + seconds
    while True:
        by_user = accepted_by_user(standin.calls(), token_user)
        if wanted <= by_user.keys() or time.monotonic() > deadline:
            return by_user
        time.sleep(0.25)


def measure(name: str, port: int, standin: StandIn, args: argparse.Namespace) -> dict:
    """Full speed, then a fixed rate, against whatever listens on `port`."""
    out: dict = {"name": name}
    standin.reset()
    load = loadgen.first_messages(SECRET, args.events)
    t0 = time.time()
    sent = loadgen.closed_loop("127.0.0.1", port, load, connections=16)
    by_user = wait_complete(standin, load, 120)
    firsts = [min(c[3] for c in by_user[u]) for u in load.users if u in by_user]
    done = len(firsts)
    out["full_events"] = args.events
    out["full_acked_per_s"] = args.events / (max(s.acked for s in sent) - t0)
    out["full_completed"] = done
    out["full_completed_per_s"] = done / (max(firsts) - t0) if firsts else 0.0
    out["full_non_200"] = sum(1 for s in sent if s.status != 200)
    out["full_by_user"] = by_user
    out["full_load"] = load

    time.sleep(1.0)
    standin.reset()
    n = int(args.rate * args.seconds)
    load2 = loadgen.first_messages(SECRET, n, crisis_at=n // 2)
    sent2 = loadgen.open_loop("127.0.0.1", port, load2, rate=args.rate, connections=64)
    by_user2 = wait_complete(standin, load2, 120)
    acks = [s.acked - s.due for s in sent2 if s.acked]
    e2e = [min(c[3] for c in by_user2[s.user]) - s.due for s in sent2 if s.user in by_user2]
    crisis = sent2[n // 2]
    crisis_calls = [c for c in by_user2.get(crisis.user, []) if "119" in c[5] or "110" in c[5]]
    out.update({
        "rate": args.rate, "rate_events": n,
        "ack_p50_ms": 1000 * loadgen.percentile(acks, 0.5), "ack_p99_ms": 1000 * loadgen.percentile(acks, 0.99),
        "e2e_p50_ms": 1000 * loadgen.percentile(e2e, 0.5), "e2e_p99_ms": 1000 * loadgen.percentile(e2e, 0.99),
        "rate_completed": len(e2e), "rate_non_200": sum(1 for s in sent2 if s.status != 200),
        "crisis_s": (min(c[3] for c in crisis_calls) - crisis.due) if crisis_calls else None,
        "rate_by_user": by_user2, "rate_load": load2,
    })
    return out


def delivery_check(url: str, results: dict) -> dict:
    """From Tsunagu's database: events handled once/twice/never; messages delivered once/twice/never."""
    incoming, rows, inbox, unsent = database_counts(url)
    users = [*results["full_load"].users, *results["rate_load"].users]
    accepted = {**results["full_by_user"], **results["rate_by_user"]}
    return count_outcomes(users, accepted, incoming, rows, inbox, unsent)


def database_counts(url: str) -> tuple[dict, dict, Counter, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        inbox = Counter(dict(conn.execute(text("SELECT status, count(*) FROM inbox_events GROUP BY status")).all()))
        # A first message handled twice would store two incoming rows for its user.
        incoming = dict(conn.execute(text(
            "SELECT c.line_user_id, count(m.id) FROM clients c LEFT JOIN messages m ON m.client_id = c.id "
            "AND m.direction = 'in' AND m.sender = 'user' GROUP BY c.line_user_id")).all())
        rows = dict(conn.execute(text(
            "SELECT c.line_user_id, count(o.id) FROM clients c JOIN outbox o ON o.client_id = c.id "
            "GROUP BY c.line_user_id")).all())
        unsent = conn.execute(text("SELECT count(*) FROM outbox WHERE status <> 'sent'")).scalar()
    engine.dispose()
    return incoming, rows, inbox, unsent


def count_outcomes(users: list[str], accepted: dict[str, list], incoming: dict, rows: dict, inbox: Counter,
                   unsent: int) -> dict:
    handled = Counter(min(incoming.get(u, 0), 2) for u in users)
    delivered = Counter()
    for u in users:
        got, expected = len(accepted.get(u, [])), rows.get(u, 0)
        delivered["once"] += min(got, expected)
        delivered["twice"] += max(0, got - expected)
        delivered["never"] += max(0, expected - got)
    return {"inbox": dict(inbox), "events_once": handled[1], "events_twice": handled[2], "events_never": handled[0],
            "msgs_once": delivered["once"], "msgs_twice": delivered["twice"], "msgs_never": delivered["never"],
            "outbox_not_sent": unsent}


def baseline_check(results: dict) -> dict:
    users = [*results["full_load"].users, *results["rate_load"].users]
    accepted = {**results["full_by_user"], **results["rate_by_user"]}
    got = Counter(min(len(accepted.get(u, [])), 2) for u in users)
    return {"events_once": got[1], "events_twice": got[2], "events_never": got[0],
            "msgs_once": got[1], "msgs_twice": got[2], "msgs_never": got[0]}


def service_env(standin: StandIn, url: str) -> dict[str, str]:
    return {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": standin.url,
            "DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-" + "x" * 32, "SERVICE_HOURS": "always",
            "SESSION_COOKIE_SECURE": "off", "LINE_EMULATOR": "off", "LOG_LEVEL": "WARNING"}


def run_baseline(standin: StandIn, workers: int, worker_class: str, args: argparse.Namespace, log_dir: Path) -> dict:
    port = free_port()
    env = {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": standin.url}
    cmd = [str(BIN / "gunicorn"), "-w", str(workers), "-k", worker_class, "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "bench.baseline_echo:app"]
    if worker_class == "gthread":
        cmd[5:5] = ["--threads", "8", "--keep-alive", "0"]  # as Tsunagu's PostgreSQL web workers run
    with processes((cmd, env), log_dir=log_dir):
        wait_port(port)
        result = measure(f"echo baseline (gunicorn -w {workers} -k {worker_class})", port, standin, args)
    result["check"] = baseline_check(result)
    return result


def reset_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def tsunagu_commands(db: str, port: int, env: dict[str, str]) -> list[tuple[list[str], dict[str, str]]]:
    if db == "sqlite":
        return [([str(BIN / "tsunagu"), "serve", "--host", "127.0.0.1", "--port", str(port)], env)]
    web = {**env, "SCHEDULER": "off"}
    # --keep-alive 0: one connection per webhook, as gunicorn sees it behind a reverse proxy (nginx speaks
    # HTTP/1.0 upstream by default). With keep-alive, the load's 16 long-lived connections went unevenly to
    # the two workers (one took them all: both together used one core) - 200 -> 275-279 events/s here.
    return [([str(BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "8", "--keep-alive", "0", "-b",
              f"127.0.0.1:{port}", "--log-level", "warning", "bot:create_app()"], web),
            ([str(BIN / "tsunagu"), "scheduler"], env)]


def prepare_database(url: str, env: dict[str, str]) -> None:
    reset_database(url)
    subprocess.run([str(BIN / "tsunagu"), "db", "upgrade"], env={**os.environ, **env}, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def run_tsunagu(standin: StandIn, db: str, url: str, args: argparse.Namespace, log_dir: Path) -> dict:
    env = service_env(standin, url)
    prepare_database(url, env)
    port = free_port()
    name = "Tsunagu (SQLite, one process)" if db == "sqlite" else "Tsunagu (PostgreSQL, 2 web workers + 1 scheduler)"
    with processes(*tsunagu_commands(db, port, env), log_dir=log_dir):
        wait_http(f"http://127.0.0.1:{port}/healthz")
        result = measure(name, port, standin, args)
        time.sleep(2.0)  # anything still settling
    result["check"] = delivery_check(url, result)
    return result


def print_table(db: str, rows: list[dict]) -> None:
    best = max((r for r in rows if r["name"].startswith("echo")), key=lambda r: r["full_completed_per_s"])
    print(f"\n== {db}")
    header = (f"{'':52} {'done/s':>7} {'ratio':>6} {'ack p50':>8} {'ack p99':>8} {'e2e p50':>8} {'e2e p99':>8}"
              f" {'crisis':>7}  events once/twice/never  msgs once/twice/never")
    print(header)
    for r in rows:
        c = r["check"]
        crisis = f"{r['crisis_s']:.2f}s" if r.get("crisis_s") is not None else "-"
        if r["name"].startswith("echo"):
            crisis = "n/a"
        ratio = r["full_completed_per_s"] / best["full_completed_per_s"]
        print(f"{r['name']:52} {r['full_completed_per_s']:7.0f} {ratio:6.2f}"
              f" {r['ack_p50_ms']:6.1f}ms {r['ack_p99_ms']:6.1f}ms {r['e2e_p50_ms']:6.0f}ms {r['e2e_p99_ms']:6.0f}ms"
              f" {crisis:>7}  {c['events_once']}/{c['events_twice']}/{c['events_never']}"
              f"  {c['msgs_once']}/{c['msgs_twice']}/{c['msgs_never']}")
    for r in rows:
        extra = f"acked {r['full_acked_per_s']:.0f}/s at full speed; non-200: {r['full_non_200']} + {r['rate_non_200']}"
        if "inbox" in r["check"]:
            extra += f"; inbox {r['check']['inbox']}; outbox rows not sent: {r['check']['outbox_not_sent']}"
        print(f"  {r['name']}: {extra}")
    print(f"  (ratio: completed events/s over the best baseline's, {best['full_completed_per_s']:.0f}/s;"
          f" full speed {rows[0]['full_events']} events, then {rows[0]['rate_events']} at {rows[0]['rate']}/s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=6000, help="events in the full-speed run")
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=10, help="length of the fixed-rate run")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--postgres", default=PG_URL)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="webhook-load-"))
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores; logs in {log_dir}")
    standin = StandIn(log_dir)
    try:
        for db, workers in (("sqlite", 1), ("postgres", 2)):
            if args.only and args.only != db:
                continue
            url = f"sqlite:///{log_dir}/load.db" if db == "sqlite" else args.postgres
            rows = [run_baseline(standin, workers, "sync", args, log_dir),
                    run_baseline(standin, workers, "gthread", args, log_dir),
                    run_tsunagu(standin, db, url, args, log_dir)]
            print_table(db, rows)
            sys.stdout.flush()
    finally:
        standin.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
