"""The README's run command brings up the demo; the emulator exists only when turned on."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bot.app import create_app
from tests.test_cli import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_tsunagu_demo_serves_health_simulator_and_console(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "DATABASE_URL", "TEST_DATABASE"))}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", "--port", str(port),
                             "--database", f"sqlite:///{tmp_path / 'demo.db'}"],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(base + "/healthz") == 200
        assert wait_for(base + "/simulator/") == 200
        assert wait_for(base + "/console/login") == 200
    finally:
        stop(proc)


def test_with_the_emulator_off_neither_the_simulator_nor_its_endpoints_exist(client):
    assert client.get("/simulator/").status_code == 404
    assert client.post("/line-emulator/v2/bot/message/push", json={}).status_code == 404
    assert client.get("/line-emulator/_emulator/users").status_code == 404


def test_with_the_emulator_on_the_simulator_and_endpoints_exist(settings, clock):
    app = create_app(replace(settings, line_emulator=True), clock=clock)
    client = app.test_client()
    assert client.get("/simulator/").status_code == 200
    assert client.get("/line-emulator/_emulator/users").status_code == 200
    app.extensions["tsunagu"].engine.dispose()
