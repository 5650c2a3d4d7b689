"""Signed LINE webhook bodies and a small asyncio load generator over keep-alive connections.

Bodies are built and signed before the clock starts, so the generator's own cost during a run is
one write and one read per request. Two ways to drive:

- `closed_loop(...)`: N connections, each posting its next body as soon as the last was answered
  (full speed: "how many events a second can it complete");
- `open_loop(...)`: body i is due at `start + i / rate` whatever happened before (a fixed rate: the
  latency of a request that had to wait for a free connection counts from when it was due).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

FIRST_WORDS = ["こんばんは", "はじめまして", "相談したいです", "話を聞いてほしいです", "息子のことで相談があります",
               "眠れなくて", "こんにちは。初めて連絡します", "家から出られなくなって半年になります"]
CRISIS_TEXT = "もう限界です。今夜、薬を全部飲んで死のうと思っています"


@dataclass
class Sent:
    index: int
    user: str
    token: str
    due: float  # when it was due (open loop) or sent (closed loop), time.time()
    acked: float = 0.0
    status: int = 0


@dataclass
class Load:
    secret: str
    bodies: list[bytes] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def user_id() -> str:
    return "U" + secrets.token_hex(16)


def text_event(user: str, text: str, token: str, stamp_ms: int) -> dict:
    return {
        "type": "message", "mode": "active", "timestamp": stamp_ms,
        "webhookEventId": "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": user},
        "replyToken": token,
        "message": {"type": "text", "id": str(secrets.randbits(60)), "quoteToken": secrets.token_hex(8), "text": text},
    }


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def first_messages(secret: str, n: int, *, crisis_at: int | None = None, stamp_ms: int | None = None) -> Load:
    """n first messages from n distinct new users, one event per webhook (as LINE sends them under
    load); body `crisis_at` carries a crisis text. Timestamps are "now": the reply tokens are fresh."""
    load = Load(secret)
    stamp = stamp_ms or int(time.time() * 1000)
    for i in range(n):
        user, token = user_id(), "rt" + secrets.token_hex(15)
        text = CRISIS_TEXT if i == crisis_at else FIRST_WORDS[i % len(FIRST_WORDS)]
        body = json.dumps({"destination": "Ubench", "events": [text_event(user, text, token, stamp)]},
                          ensure_ascii=False).encode()
        load.bodies.append(body)
        load.signatures.append(sign(secret, body))
        load.users.append(user)
        load.tokens.append(token)
        load.texts.append(text)
    return load


def restamp(load: Load, stamp_ms: int) -> None:
    """Give every body a fresh timestamp (and signature) just before it is sent."""
    for i, body in enumerate(load.bodies):
        data = json.loads(body)
        for e in data["events"]:
            e["timestamp"] = stamp_ms
        load.bodies[i] = json.dumps(data, ensure_ascii=False).encode()
        load.signatures[i] = sign(load.secret, load.bodies[i])


def _request(host: str, port: int, body: bytes, signature: str) -> bytes:
    return (f"POST /callback HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Line-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length, chunked, close = 0, False, False
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
        elif k == "connection" and "close" in v.lower():
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    if close:
        raise _Closing(status)
    return status


class _Closing(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


async def _drive(host: str, port: int, load: Load, connections: int, due_of,  # noqa: ANN001
                 redeliver_for: float = 0.0) -> list[Sent]:
    """`redeliver_for` > 0: like LINE with redelivery on, a body that got no 200 (refused connection,
    5xx) is posted again every half second for that long."""
    results = [Sent(i, load.users[i], load.tokens[i], 0.0) for i in range(len(load.bodies))]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(load.bodies)):
        queue.put_nowait(i)

    async def connection() -> None:
        reader = writer = None
        while not queue.empty():
            i = queue.get_nowait()
            due = due_of(i)
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = results[i]
            sent.due = due if due > 0 else time.time()
            give_up = time.time() + redeliver_for
            attempt = 0
            while True:
                attempt += 1
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    writer.write(_request(host, port, load.bodies[i], load.signatures[i]))
                    sent.status = await _read_response(reader)
                    sent.acked = time.time()
                except _Closing as closing:
                    sent.status, sent.acked = closing.status, time.time()
                    writer.close()
                    reader = writer = None
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    sent.status = 0
                if sent.status == 200:
                    break
                if redeliver_for > 0 and time.time() < give_up:
                    await asyncio.sleep(0.5)
                    continue
                if redeliver_for == 0 and sent.status == 0 and attempt < 3:
                    await asyncio.sleep(0.05)
                    continue
                break
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return results


def closed_loop(host: str, port: int, load: Load, connections: int = 16) -> list[Sent]:
    return asyncio.run(_drive(host, port, load, connections, lambda i: 0.0))


def open_loop(host: str, port: int, load: Load, rate: float, connections: int = 64,
              redeliver_for: float = 0.0) -> list[Sent]:
    start = time.time() + 0.2
    # Each connection takes the next index in order, so body i is never sent before it is due.
    return asyncio.run(_drive(host, port, load, connections, lambda i: start + i / rate, redeliver_for))


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
