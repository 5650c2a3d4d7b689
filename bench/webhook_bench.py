"""Webhook latency and outbox throughput, end to end over real HTTP.

Runs the app under waitress on a free port, the LINE platform emulator on another, and N simulated
users who each follow and go through the whole intake (8 signed webhook calls each). Prints the
webhook's answer times (p50/p95/max) and how long until every reply reached the emulated phones.

    .venv/bin/python bench/webhook_bench.py [--users 50] [--database sqlite:///bench.db]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from waitress import create_server  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from linesim import EmulatorServer, LinePlatform  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

SECRET, TOKEN = "bench-secret", "bench-token"
SCRIPT = ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労", "息子が部屋から出てきません"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(make_engine(url))

    platform = LinePlatform(SECRET, TOKEN)
    emulator = EmulatorServer(platform)
    emulator.start()
    settings = Settings(line_channel_secret=SECRET, line_channel_access_token=TOKEN, line_api_base_url=emulator.url,
                        database_url=url, secret_key="b" * 40, service_hours="always", areas=("札幌市",),
                        scheduler=False)
    app = create_app(settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    port = server.effective_port
    threading.Thread(target=server.run, daemon=True).start()
    callback = f"http://127.0.0.1:{port}/callback"

    def post(events: list[dict]) -> float:
        body = platform.body(events)
        request = urllib.request.Request(callback, data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Line-Signature": platform.sign(body)})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 200
        return time.perf_counter() - started

    users = [platform.add_user() for _ in range(args.users)]
    latencies: list[float] = []
    started = time.perf_counter()
    for uid in users:
        latencies.append(post([platform.follow_event(uid)]))
    for text in SCRIPT:
        for uid in users:
            latencies.append(post([platform.text_event(uid, text)]))
    sent_all = time.perf_counter() - started
    expected = len(SCRIPT) + 1  # greeting + one reply per message
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(len(platform.inbox(u)) < expected for u in users):
        time.sleep(0.1)
    delivered = time.perf_counter() - started
    missing = sum(max(0, expected - len(platform.inbox(u))) for u in users)
    duplicates = sum(max(0, len(platform.inbox(u)) - expected) for u in users)

    q = statistics.quantiles(latencies, n=100)
    print(f"database           {url.split(':')[0]}")
    print(f"webhook calls      {len(latencies)} ({args.users} users x {expected} events)")
    print(f"answer time p50    {q[49] * 1000:.1f} ms")
    print(f"answer time p95    {q[94] * 1000:.1f} ms")
    print(f"answer time max    {max(latencies) * 1000:.1f} ms")
    print(f"webhook calls/s    {len(latencies) / sent_all:.0f} (one client, sequential)")
    print(f"all replies on phones after {delivered:.1f} s; missing {missing}, duplicates {duplicates}")
    server.close()
    emulator.stop()
    return 0 if missing == 0 and duplicates == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
