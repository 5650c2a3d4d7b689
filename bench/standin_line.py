"""A minimal stand-in for the LINE Messaging API, for benchmarks: it accepts what the SDK sends,
records every call with the moment it was accepted, and can be told to fail.

Written on raw asyncio (no framework) so that it costs the machine far less than the services it
measures. It keeps LINE's rules that matter for "nothing twice": a reply token answers one request
(a second use gets 400 "Invalid reply token"), and a push with an `X-Line-Retry-Key` seen before gets
409. Faults (`POST /_control`): the next N calls answer 500 or 429 (with `Retry-After`), or stall N
seconds and are *then* carried out (the caller has long timed out: its outcome is unknown).

    python bench/standin_line.py --port 0 --port-file /tmp/port   # prints nothing; writes its port
    GET  /_stats     every accepted call: {"calls": [[kind, key, user, t, n_messages, first_text], ...]}
    POST /_control   {"fail": 10, "status": 500} | {"fail": 10, "status": 429, "retry_after": 1}
                     | {"stall": 10, "count": 1}
    POST /_reset     forget everything
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

SENT = json.dumps({"sentMessages": [{"id": "1", "quoteToken": "q"}]}).encode()


class Platform:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls: list[list] = []  # accepted: [kind, key, user, time, n_messages, first_text]
        self.refused: dict[str, int] = {}
        self.used_tokens: set[str] = set()
        self.retry_keys: set[str] = set()
        self.fail_left = 0
        self.fail_status = 500
        self.retry_after: int | None = None
        self.stall_left = 0
        self.stall_seconds = 0.0

    def count(self, what: str) -> None:
        self.refused[what] = self.refused.get(what, 0) + 1

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict]:
        if path == "/_stats":
            return 200, json.dumps({"calls": self.calls, "refused": self.refused}).encode(), {}
        if path == "/_reset":
            self.reset()
            return 200, b"{}", {}
        if path == "/_control":
            spec = json.loads(body or b"{}")
            if "fail" in spec:
                self.fail_left, self.fail_status = int(spec["fail"]), int(spec.get("status", 500))
                self.retry_after = spec.get("retry_after")
            if "stall" in spec:
                self.stall_seconds, self.stall_left = float(spec["stall"]), int(spec.get("count", 1))
            return 200, b"{}", {}
        if not path.startswith("/v2/bot/"):
            return 404, b'{"message":"Not found"}', {}
        if self.fail_left > 0 and path.startswith("/v2/bot/message/"):
            self.fail_left -= 1
            self.count(str(self.fail_status))
            extra = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
            return self.fail_status, b'{"message":"stand-in fault"}', extra
        if self.stall_left > 0 and path.startswith("/v2/bot/message/"):
            self.stall_left -= 1
            self.count("stalled")
            await asyncio.sleep(self.stall_seconds)  # then carried out: the caller timed out long ago
        now = time.time()
        if path == "/v2/bot/message/reply":
            data = json.loads(body)
            token = data.get("replyToken", "")
            if token in self.used_tokens:
                self.count("reply_token_reused")
                return 400, b'{"message":"Invalid reply token"}', {}
            self.used_tokens.add(token)
            messages = data.get("messages") or []
            self.calls.append(["reply", token, None, now, len(messages), _first_text(messages)])
            return 200, SENT, {}
        if path == "/v2/bot/message/push":
            data = json.loads(body)
            key = headers.get("x-line-retry-key")
            if key and key in self.retry_keys:
                self.count("push_409")
                return 409, b'{"message":"The retry key is already accepted"}', {"x-line-accepted-request-id": "x"}
            if key:
                self.retry_keys.add(key)
            messages = data.get("messages") or []
            self.calls.append(["push", key, data.get("to"), now, len(messages), _first_text(messages)])
            return 200, SENT, {}
        return 200, b"{}", {}  # loading animation, mark as read, leave …: accepted, not counted


def _first_text(messages: list) -> str:
    for m in messages:
        if isinstance(m, dict) and m.get("type") == "text":
            return str(m.get("text", ""))[:60]
    return ""


async def serve_connection(platform: Platform, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            status, payload, extra = await platform.handle(method, path.split("?", 1)[0], headers, body)
            head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(payload)}",
                    "x-line-request-id: standin"] + [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def main_async(port: int, port_file: str | None) -> None:
    platform = Platform()
    server = await asyncio.start_server(lambda r, w: serve_connection(platform, r, w), "127.0.0.1", port,
                                        backlog=1024)
    actual = server.sockets[0].getsockname()[1]
    if port_file:
        Path(port_file).write_text(str(actual))
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    asyncio.run(main_async(args.port, args.port_file))


if __name__ == "__main__":
    main()
