"""The deployment contract: `tsunagu serve --host H --port P` serves the app on SQLite, brings the
schema up to date on start, and answers /healthz; settings come from the environment."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds}s")


def stop(proc: subprocess.Popen) -> None:
    """Ctrl+C, as an operator would; kill only if it does not stop."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_runs_the_app_on_sqlite_with_migrations_and_health(tmp_path):
    port = free_port()
    db = tmp_path / "serve.db"
    env = {**os.environ, "LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40,
           "DATABASE_URL": f"sqlite:///{db}", "LINE_API_BASE_URL": "http://127.0.0.1:9", "LOG_LEVEL": "WARNING"}
    env.pop("TEST_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz") == 200
        tables = set(inspect(create_engine(f"sqlite:///{db}")).get_table_names())
        assert {"clients", "consultations", "messages", "inbox_events", "outbox", "alembic_version"} <= tables
        request = urllib.request.Request(f"http://127.0.0.1:{port}/callback", data=b"{}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("an unsigned webhook call must be refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
    finally:
        stop(proc)


def test_serve_refuses_to_start_without_line_credentials_and_names_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "SECRET_KEY"))}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port())], cwd=tmp_path,
                            env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "LINE_CHANNEL_SECRET" in result.stderr and "LINE_CHANNEL_ACCESS_TOKEN" in result.stderr


def test_the_app_factory_is_usable_by_a_wsgi_server(monkeypatch, tmp_path):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "t")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("OUTBOX_MODE", "inline")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    import bot

    app = bot.create_app()
    assert app.extensions["tsunagu"].settings.line_channel_secret == "s"
    app.extensions["tsunagu"].engine.dispose()
