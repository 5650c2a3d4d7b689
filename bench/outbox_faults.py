"""Nothing lost, nothing twice, under faults: N users write while the LINE emulator fails
(500s, then 429s, then a 10 s stall), the first process is "killed" half-way and a second one takes
over. Prints how many messages reached the phones, missing and duplicated, and how long it took.

    .venv/bin/python bench/outbox_faults.py [--users 40] [--database URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from linesim import EmulatorServer, LinePlatform  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

SECRET, TOKEN = "bench-secret", "bench-token"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/faults.db"
    upgrade(make_engine(url))
    platform = LinePlatform(SECRET, TOKEN)
    emulator = EmulatorServer(platform).start()
    settings = Settings(line_channel_secret=SECRET, line_channel_access_token=TOKEN, line_api_base_url=emulator.url,
                        database_url=url, secret_key="b" * 40, service_hours="always", scheduler=False,
                        outbox_mode="off", line_api_timeout=2)
    first = create_app(settings)
    client = first.test_client()
    users = [platform.add_user() for _ in range(args.users)]

    def post(events: list[dict]) -> None:
        body = platform.body(events)
        r = client.post("/callback", data=body, content_type="application/json",
                        headers={"X-Line-Signature": platform.sign(body)})
        assert r.status_code == 200

    platform.fail_next(args.users, 500)
    platform.fail_next(args.users // 2, 429)
    platform.stall_next(1, 10)  # LINE takes it but answers too late: the retry must not double it
    started = time.perf_counter()
    for uid in users:
        post([platform.follow_event(uid)])
        post([platform.text_event(uid, "こんばんは")])
    # The first process sends a little, then dies.
    first.extensions["tsunagu"].outbox.send_due(limit=args.users // 2)
    first.extensions["tsunagu"].engine.dispose()
    second = create_app(settings)
    sender = second.extensions["tsunagu"].outbox
    attempts_rounds = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        attempts_rounds += 1
        sender.send_due(limit=1000)
        with second.extensions["tsunagu"].sessions() as s:
            from sqlalchemy import func, select

            from storage.models import OutboxMessage

            pending = s.scalar(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.status == "pending"))
        if not pending:
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    expected = 2 * args.users
    per_text = Counter((u, m.get("text")) for u in users for m in platform.inbox(u))
    delivered = sum(per_text.values())
    duplicates = sum(n - 1 for n in per_text.values() if n > 1)
    calls = Counter(c.status for c in platform.api_calls())
    print(f"database             {url.split(':')[0]}")
    print(f"messages expected    {expected} ({args.users} users: greeting + consent question)")
    print(f"delivered            {delivered - duplicates} unique, duplicates {duplicates}, "
          f"missing {expected - (delivered - duplicates)}")
    print(f"LINE API answers     {dict(sorted(calls.items()))}")
    print(f"time to drain        {elapsed:.1f} s over {attempts_rounds} sweeps (backoff waits shortened by "
          f"the real clock: retries come due after 2-8 s)")
    emulator.stop()
    return 0 if duplicates == 0 and delivered - duplicates == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
