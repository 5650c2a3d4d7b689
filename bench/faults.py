"""Nothing lost, nothing twice, under faults: the load of `bench/webhook_load.py` (first messages from
distinct new users at a fixed rate, one crisis text among them) while something goes wrong:

- `500s`     the platform answers the next 300 sends with 500;
- `429s`     the next 300 with 429 and `Retry-After: 1`;
- `stalls`   20 sends stall 10 s and are then carried out (the service's 2 s timeout has long passed:
             their outcome is unknown to it);
- `sigkill`  every service process is killed with SIGKILL half-way through, and started again;
- `pg-restart` (PostgreSQL only) the database server is restarted half-way through.

Like LINE with redelivery on, the load generator posts a webhook again until it gets a 200. After the
load it waits for the service to recover, then prints events handled once / twice / never (from the
database) and messages delivered once / twice / never (the platform's records against the outbox).

    .venv/bin/python bench/faults.py [--rate 100] [--seconds 10] [--only sqlite|postgres] [--scenario sigkill]

`pg-restart` restarts the machine's PostgreSQL cluster (`pg_ctlcluster`): every other connection to
it (other test runs) is cut as well.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import loadgen  # noqa: E402
from bench import webhook_load as wl  # noqa: E402

SCENARIOS = ("500s", "429s", "stalls", "sigkill", "pg-restart")


def start(commands: list, log_dir: Path, tag: str) -> list[subprocess.Popen]:
    procs = []
    for n, (cmd, env) in enumerate(commands):
        log = open(log_dir / f"{tag}-{n}.log", "a")  # noqa: SIM115
        procs.append(subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=wl.ROOT, start_new_session=True))
    return procs


def stop(procs: list[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, sig)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)


def run(db: str, url: str, scenario: str, args: argparse.Namespace, standin: wl.StandIn, log_dir: Path) -> dict:
    standin.reset()
    env = {**wl.service_env(standin, url), "LINE_API_TIMEOUT": "2"}
    wl.prepare_database(url, env)
    port = wl.free_port()
    commands = wl.tsunagu_commands(db, port, env)
    procs = start(commands, log_dir, f"{db}-{scenario}")
    wl.wait_http(f"http://127.0.0.1:{port}/healthz")
    if scenario == "500s":
        standin.call("/_control", {"fail": 300, "status": 500})
    elif scenario == "429s":
        standin.call("/_control", {"fail": 300, "status": 429, "retry_after": 1})
    elif scenario == "stalls":
        standin.call("/_control", {"stall": 10, "count": 20})

    n = int(args.rate * args.seconds)
    load = loadgen.first_messages(wl.SECRET, n, crisis_at=n // 2)
    events: list = []
    driver = threading.Thread(target=lambda: events.extend(
        loadgen.open_loop("127.0.0.1", port, load, rate=args.rate, connections=32, redeliver_for=180)))
    started = time.time()
    driver.start()
    if scenario in ("sigkill", "pg-restart"):
        time.sleep(args.seconds / 2)
        if scenario == "sigkill":
            stop(procs, signal.SIGKILL)
            time.sleep(1.0)
            procs = start(commands, log_dir, f"{db}-{scenario}")
        else:
            restart_postgres()
    driver.join()
    acked = time.time()
    by_user = wl.wait_complete(standin, load, args.recover)
    recovered = time.time()
    time.sleep(3.0)  # let late settles land before counting
    stop(procs)
    incoming, rows, inbox, unsent = wl.database_counts(url)
    by_user = wl.accepted_by_user(standin.calls(), dict(zip(load.tokens, load.users, strict=True)))
    check = wl.count_outcomes(load.users, by_user, incoming, rows, inbox, unsent)
    crisis_user = load.users[n // 2]
    crisis_calls = [c for c in by_user.get(crisis_user, []) if "119" in c[5] or "110" in c[5]]
    refused = standin.call("/_stats")["refused"]
    return {"db": db, "scenario": scenario, "events": n, "check": check, "acked_s": acked - started,
            "recovered_s": recovered - started, "refused": refused,
            "crisis_s": (min(c[3] for c in crisis_calls) - events[n // 2].due) if crisis_calls and events else None}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--recover", type=float, default=240, help="seconds to wait for recovery")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--postgres", default=wl.PG_URL)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="faults-"))
    print(f"load average {os.getloadavg()[0]:.1f}; logs in {log_dir};"
          f" {args.rate:.0f} events/s for {args.seconds:.0f} s")
    print(f"{'database':10} {'fault':11} {'events':>6}  events once/twice/never  msgs once/twice/never"
          f"  {'recovered':>9}  {'crisis':>7}  platform refused")
    standin = wl.StandIn(log_dir)
    failures = 0
    try:
        for db in ("sqlite", "postgres"):
            if args.only and args.only != db:
                continue
            url = f"sqlite:///{log_dir}/faults.db" if db == "sqlite" else args.postgres
            for scenario in args.scenario or SCENARIOS:
                if scenario == "pg-restart" and db != "postgres":
                    continue
                if db == "sqlite":
                    Path(f"{log_dir}/faults.db").unlink(missing_ok=True)
                r = run(db, url, scenario, args, standin, log_dir)
                c = r["check"]
                crisis = f"{r['crisis_s']:.1f}s" if r["crisis_s"] is not None else "never"
                print(f"{db:10} {scenario:11} {r['events']:6}  {c['events_once']:>10}/{c['events_twice']}/"
                      f"{c['events_never']:<9}  {c['msgs_once']:>8}/{c['msgs_twice']}/{c['msgs_never']:<8}"
                      f"  {r['recovered_s']:8.0f}s  {crisis:>7}  {r['refused']}", flush=True)
                failures += c["events_twice"] + c["events_never"] + c["msgs_twice"] + c["msgs_never"]
    finally:
        standin.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end; "
          f"{'0 lost and 0 doubled in every run' if failures == 0 else f'{failures} lost or doubled in all'}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
