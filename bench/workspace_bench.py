"""The counselor workspace with 50 waiting and 3 active consultations: time to first render and per update.

Serves the app under waitress on a free port with a database holding 50 waiting consultations (each with
an intake's worth of messages; a few at high risk) and 3 active ones held by one counselor (40 messages
each), then measures:

- server side, over real HTTP: the workspace page, the stream's first answer (every list built), an
  unchanged poll (the page already has the lists' version), a poll with the open chat, and a poll right
  after a new user message (the lists change);
- in Debian's Chromium (when installed): from navigation to the 53 rows shown (first render), opening a
  chat (its 40 messages in view), and per update the time from a user's message being stored to its
  unread badge on the page (this includes waiting for the next poll, every 2 s: about 1 s on average for a
  message arriving at a random moment) and the page's own rendering time for that update (performance
  marks in console.js).

    .venv/bin/python bench/workspace_bench.py [--database postgresql://…] [--rounds 20] [--no-browser]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from waitress import create_server  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage import consultations as consultation_repo  # noqa: E402
from storage import messages as message_repo  # noqa: E402
from storage import staff as staff_repo  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Base, Client  # noqa: E402

PASSWORD = "bench password long enough"
WAITING, ACTIVE = 50, 3
CHROMIUM = "/usr/bin/chromium"


def build(sessions, now: datetime) -> tuple[list[int], int]:
    """50 waiting and 3 active consultations; returns the active ones' ids and the counselor's id."""
    active = []
    with sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, now)
        counselor = staff_repo.create(db, "bench-counselor", PASSWORD, "counselor", org, now, "相談員A")
        for i in range(WAITING + ACTIVE):
            client = Client(user_hash=f"{i:064d}", pseudonym=f"相談者-B{i:03d}", first_seen_at=now, last_seen_at=now)
            db.add(client)
            db.flush()
            c = consultation_repo.create(db, client, org, now - timedelta(minutes=60 - i), state="waiting")
            c.queued_at = now - timedelta(minutes=55 - i)
            c.who, c.age_band, c.area, c.concern = "family", "40s", "札幌市", "work"
            if i % 12 == 0:
                c.risk_level, c.risk_rank, c.risk_cues = "high", 2, ["死にたい気持ち"]
            n = 40 if i >= WAITING else 12
            for k in range(n):
                sender = "user" if k % 2 == 0 else ("counselor" if i >= WAITING and k > 12 else "bot")
                message_repo.add(db, client_id=client.id, consultation_id=c.id, direction="in" if sender == "user"
                                 else "out", sender=sender, text=f"メッセージ{k}。\n二行目もあります。",
                                 now=now - timedelta(minutes=50 - k), staff_id=counselor.id if sender == "counselor"
                                 else None)
            if i >= WAITING:
                c.state, c.counselor_id, c.claimed_at = "active", counselor.id, now - timedelta(minutes=30)
                active.append(c.id)
        counselor_id = counselor.id
    return active, counselor_id


def timed_get(url: str, headers: dict[str, str]) -> tuple[float, bytes]:
    req = urllib.request.Request(url, headers=headers)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req) as r:  # noqa: S310 (loopback)
        body = r.read()
    return (time.perf_counter() - t0) * 1000, body


def summary(name: str, ms: list[float], size: int | None = None) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    extra = f"  ({size / 1024:.1f} kB)" if size is not None else ""
    print(f"  {name:<64} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   n={len(ms)}{extra}")


def add_user_message(sessions, cid: int, text_: str) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as db:
        from storage.models import Consultation

        c = db.get(Consultation, cid)
        message_repo.add(db, client_id=c.client_id, consultation_id=c.id, direction="in", sender="user", text=text_,
                         now=now)
        c.last_user_message_at = now


def server_side(base: str, sessions, token: str, active: list[int], rounds: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    print("server (real HTTP, one web process, waitress):")
    t, body = timed_get(base + "/api/v1/workspace", auth)
    first = json.loads(body)
    assert len(first["lists"]["queue"]) == WAITING and len(first["lists"]["mine"]) == ACTIVE, "unexpected lists"
    cold = [t] + [timed_get(base + "/api/v1/workspace", auth)[0] for _ in range(rounds - 1)]
    summary("stream, every list built (first poll of a page)", cold, len(body))
    v = first["version"]
    unchanged = [timed_get(base + f"/api/v1/workspace?v={v}", auth) for _ in range(rounds)]
    summary("stream, nothing changed (lists not sent)", [u[0] for u in unchanged], len(unchanged[-1][1]))
    detail_ms, detail = zip(*[timed_get(base + f"/api/v1/consultations/{active[0]}", auth) for _ in range(rounds)],
                            strict=True)
    summary("open a chat: the whole consultation (40 messages)", list(detail_ms), len(detail[-1]))
    last = json.loads(detail[-1])["last_message_id"]
    with_chat = [timed_get(base + f"/api/v1/workspace?v={v}&chat={active[0]}&after={last}", auth)
                 for _ in range(rounds)]
    summary("stream with the open chat, nothing new", [u[0] for u in with_chat], len(with_chat[-1][1]))
    changed = []
    for i in range(rounds):
        add_user_message(sessions, active[1], f"新しいメッセージ{i}")
        t, body = timed_get(base + f"/api/v1/workspace?v={v}&chat={active[0]}&after={last}", auth)
        data = json.loads(body)
        assert data["lists"] is not None
        v = data["version"]
        changed.append(t)
    summary("stream right after a new message (lists rebuilt)", changed)


def browser_side(base: str, sessions, active: list[int], rounds: int) -> None:
    if not Path(CHROMIUM).exists():
        print("browser: skipped (no /usr/bin/chromium)")
        return
    from playwright.sync_api import sync_playwright

    print("browser (Debian's Chromium, headless; the page polls every 2 s):")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        # bypass_csp only so the bench may read the page's performance marks; the app's CSP is unchanged.
        page = b.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        page.goto(base + "/console/login")
        page.fill("input[name=login]", "bench-counselor")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(f"#queue tbody tr >> nth={WAITING - 1}")
        firsts = []
        for _ in range(min(rounds, 10)):
            t0 = time.perf_counter()
            page.goto(base + "/console/")
            page.wait_for_selector(f"#queue tbody tr >> nth={WAITING - 1}")
            page.wait_for_selector(f"#mine li.chat-item >> nth={ACTIVE - 1}")
            firsts.append((time.perf_counter() - t0) * 1000)
        summary("first render: page load to 53 rows shown", firsts)
        opens = []
        for i in range(min(rounds, 10)):
            cid = active[i % 2]
            t0 = time.perf_counter()
            page.click(f"#mine li[data-id='{cid}'] a.open")
            page.wait_for_selector(f"#chat[data-loaded='{cid}']")
            opens.append((time.perf_counter() - t0) * 1000)
        summary("open a chat: click to 40 messages in view", opens)
        page.click(f"#mine li[data-id='{active[0]}'] a.open")
        page.wait_for_selector(f"#chat[data-loaded='{active[0]}']")
        latency = []
        page.evaluate("performance.clearMeasures()")
        for i in range(rounds):
            badge = page.locator(f"#mine li[data-id='{active[2]}'] .unread")
            before = badge.inner_text()
            time.sleep(random.uniform(0, 2))  # messages come at any moment between two polls
            t0 = time.perf_counter()
            add_user_message(sessions, active[2], f"届きましたか{i}")
            page.wait_for_function(f"() => (document.querySelector(\"#mine li[data-id='{active[2]}'] .unread\") || "
                                   f"{{}}).textContent !== {json.dumps(before)}", timeout=15_000)
            latency.append((time.perf_counter() - t0) * 1000)
        summary("update: message stored -> unread badge shown (incl. poll wait)", latency)
        renders = page.evaluate("performance.getEntriesByName('tsunagu:lists').map(m => m.duration)")
        if renders:
            summary("update: the page re-rendering the lists (53 rows)", renders)
        polls = page.evaluate("performance.getEntriesByName('tsunagu:poll').map(m => m.duration)")
        if polls:
            summary("update: one poll, request to rendered (in the page)", polls)
        b.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/workspace-bench.db"
    engine = make_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    engine.dispose()
    settings = Settings(line_channel_secret="bench-secret", line_channel_access_token="bench-token",
                        line_api_base_url="http://127.0.0.1:9", database_url=url, secret_key="b" * 40,
                        service_hours="always", areas=("札幌市",), scheduler=False, outbox_mode="off",
                        session_cookie_secure=False, api_rate_limit=1_000_000)
    app = create_app(settings)
    svc = app.extensions["tsunagu"]
    active, counselor_id = build(svc.sessions, datetime.now(UTC))
    with svc.sessions.begin() as db:
        from storage.models import Staff

        token = staff_repo.issue_token(db.get(Staff, counselor_id), datetime.now(UTC))
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    print(f"workspace bench: {WAITING} waiting + {ACTIVE} active consultations on "
          f"{'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}")
    server_side(base, svc.sessions, token, active, args.rounds)
    if not args.no_browser:
        browser_side(base, svc.sessions, active, args.rounds)
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
