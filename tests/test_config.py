"""Settings come from the environment, strictly, with every problem reported at once."""

import pytest

from bot.config import DEFAULT_DATABASE, DEFAULT_LINE_API, SettingsError, load_settings

REQUIRED = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "SECRET_KEY": "k" * 40}


def test_defaults_are_the_real_line_api_sqlite_and_evening_hours_in_tokyo():
    s = load_settings(REQUIRED)
    assert s.line_api_base_url == DEFAULT_LINE_API == "https://api.line.me"
    assert s.database_url == DEFAULT_DATABASE and s.database_url.startswith("sqlite:///")
    assert (s.service_hours, s.service_timezone) == ("16:00-21:00", "Asia/Tokyo")


def test_the_contract_settings_are_read_from_the_environment():
    s = load_settings({**REQUIRED, "LINE_API_BASE_URL": "http://127.0.0.1:9000", "DATABASE_URL": "sqlite:///x.db",
                       "SERVICE_HOURS": "always", "SERVICE_TIMEZONE": "UTC", "AREAS": "札幌市、旭川市",
                       "CLOSED_DATES": "2026-12-31,2027-01-01"})
    assert s.line_api_base_url == "http://127.0.0.1:9000" and s.database_url == "sqlite:///x.db"
    assert s.hours().always and s.areas == ("札幌市", "旭川市") and len(s.closed_dates) == 2
    assert (s.line_channel_secret, s.line_channel_access_token) == ("s", "t")


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        load_settings({"SERVICE_HOURS": "evening", "SERVICE_TIMEZONE": "Mars/Olympus", "INTAKE_TIMEOUT_MINUTES": "-1"})
    text = str(info.value)
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SECRET_KEY", "SERVICE_TIMEZONE",
                 "INTAKE_TIMEOUT_MINUTES"):
        assert name in text


def test_bad_hours_are_named():
    with pytest.raises(SettingsError, match="SERVICE_HOURS"):
        load_settings({**REQUIRED, "SERVICE_HOURS": "9-5"})


def test_dotenv_is_read_by_the_command_line_entry_point(tmp_path, monkeypatch):
    from bot import cli

    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///" + str(tmp_path / "from-dotenv.db") + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["db", "upgrade"]) == 0
    assert (tmp_path / "from-dotenv.db").exists()
