"""LINE-native touches (issue 10): the rich menu set by `tsunagu richmenu apply` and its four taps, the loading
animation while a counselor types, and 既読 when the counselor opens the chat. All through line-bot-sdk
against the emulator; nothing is mocked."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApi, MessagingApiBlob

from bot import richmenu
from bot.cli import main
from flows import texts
from linesim.richmenu import image_size
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from tests.conftest import ACCESS_TOKEN

TOKYO = ZoneInfo("Asia/Tokyo")
PASSWORD = "correct horse battery"


def svc(app):
    return app.extensions["tsunagu"]


# --- the rich menu --------------------------------------------------------------------------------------


@pytest.fixture
def line_env(monkeypatch, tmp_path, line):
    """The `tsunagu` command's environment, pointed at the emulator (no .env, no database needed)."""
    monkeypatch.chdir(tmp_path)
    for name in ("LINE_DATA_API_BASE_URL", "RICHMENU_FONT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINE_API_BASE_URL", line.url)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", ACCESS_TOKEN)
    return line


def test_richmenu_apply_sets_the_default_rich_menu_with_its_image_and_four_taps(line_env, tmp_path, capsys):
    platform = line_env.platform
    assert main(["richmenu", "apply", "--save-image", str(tmp_path / "menu.png")]) == 0
    state = platform.rich_menus()
    assert len(state["menus"]) == 1 and state["default"] == state["menus"][0]["richMenuId"]
    assert state["with_image"] == [state["default"]]
    menu = state["menus"][0]
    assert [(a["action"]["type"], a["action"]["data"], a["action"]["displayText"]) for a in menu["areas"]] == [
        ("postback", "menu=consult", "相談する"), ("postback", "menu=hours", "相談できる時間"),
        ("postback", "menu=emergency", "緊急の連絡先"), ("postback", "menu=family", "家族の方へ")]
    content_type, image = platform.rich_menu_image(state["default"])
    assert content_type == "image/png" and image_size(image) == (menu["size"]["width"], menu["size"]["height"])
    assert image == (tmp_path / "menu.png").read_bytes()
    assert state["default"] in capsys.readouterr().out


def test_applying_again_replaces_the_menu_and_deletes_the_earlier_one(line_env):
    assert main(["richmenu", "apply"]) == 0
    first = line_env.platform.rich_menus()["default"]
    assert main(["richmenu", "apply"]) == 0
    state = line_env.platform.rich_menus()
    assert state["default"] != first and [m["richMenuId"] for m in state["menus"]] == [state["default"]]


def test_the_drawn_image_fits_lines_rules_and_shows_each_label():
    from PIL import Image

    png = richmenu.draw(richmenu.find_font())
    assert png.startswith(b"\x89PNG") and len(png) < 1024 * 1024
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    assert picture.size == (richmenu.WIDTH, richmenu.HEIGHT)
    for _item, (x, y, w, h) in richmenu.columns():  # each tile has its label drawn in white on its colour
        tile = picture.crop((x + 60, y + 520, x + w - 60, y + h - 80))
        assert (255, 255, 255) in {c for _, c in tile.getcolors(maxcolors=100_000)}


def test_the_emulator_keeps_lines_rich_menu_rules(line):
    config = Configuration(host=line.url, access_token=ACCESS_TOKEN)
    with ApiClient(config) as api_client, ApiClient(Configuration(host=line.url + "/blob",
                                                                  access_token=ACCESS_TOKEN)) as blob_client:
        api, blob = MessagingApi(api_client), MessagingApiBlob(blob_client)
        menu_id = api.create_rich_menu(richmenu.menu_request()).rich_menu_id
        with pytest.raises(ApiException) as no_image:
            api.set_default_rich_menu(menu_id)
        assert no_image.value.status == 400
        small = _png(800, 270)
        with pytest.raises(ApiException) as wrong_size:
            blob.set_rich_menu_image(menu_id, small, _headers={"Content-Type": "image/png"})
        assert wrong_size.value.status == 400
        with pytest.raises(ApiException) as on_the_api_host:  # images go to the blob host only
            MessagingApiBlob(api_client).set_rich_menu_image(menu_id, small, _headers={"Content-Type": "image/png"})
        assert on_the_api_host.value.status == 404
        api.delete_rich_menu(menu_id)
        assert api.get_rich_menu_list().richmenus == []


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return out.getvalue()


# --- the taps ---------------------------------------------------------------------------------------------


def test_tapping_hours_tells_the_hours_and_whether_it_is_open_now(user, clock):
    user.postback("menu=hours")
    assert user.last_text == texts.HOURS_INFO_OPEN.format(hours="毎日 16:00〜21:00", closes="21:00")
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=TOKYO))
    user.postback("menu=hours")
    assert user.last_text == texts.HOURS_INFO_CLOSED.format(hours="毎日 16:00〜21:00",
                                                            next_opening="明日（11月24日）の16:00")


def test_tapping_emergency_names_119_110_and_the_lines_open_now(user, clock):
    clock.set(datetime(2026, 11, 24, 3, 0, tzinfo=TOKYO))
    user.postback("menu=emergency")
    first, lines = user.texts[-2:]
    assert first == texts.EMERGENCY_INFO_FIRST and "119" in first and "110" in first
    assert "0120-279-338" in lines and "0570-783-556" not in lines  # 24 h yes; the 10:00-22:00 line not at 3:00


def test_tapping_family_sends_the_family_page(user):
    user.postback("menu=family")
    assert user.last_text == texts.FAMILY_INFO


def test_tapping_consult_starts_the_intake_in_hours_and_says_when_outside(make_user, clock):
    now_open = make_user()
    now_open.postback("menu=consult")
    assert now_open.quick_replies == ["同意して進む", "やめておく"]
    now_open.postback("menu=consult")
    assert now_open.last_text == texts.CONSULT_ALREADY_OPEN  # no second intake
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=TOKYO))
    closed = make_user()
    closed.says("こんばんは")
    closed.postback("menu=consult")  # answered even right after the closed-hours reply
    assert sum("受付時間外" in t for t in closed.texts) == 2  # the tap is answered, not swallowed
    assert "受付時間外" in closed.last_text and closed.quick_replies == [texts.NOTIFY_ON_OPENING]


# --- while the counselor works ------------------------------------------------------------------------------


@pytest.fixture
def counselors(app, clock):
    def _make(login):
        with svc(app).sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            member = staff_repo.create(db, login, PASSWORD, "counselor", org, clock())
            return {"Authorization": f"Bearer {staff_repo.issue_token(member, clock())}"}

    return _make


def queued(user) -> None:
    for step in ["こんばんは", "同意して進む", "本人", "20代", "札幌市", "仕事・就労", "話を聞いてほしいです"]:
        user.says(step)


def phone(line, user):
    return next(u for u in line.platform.users() if u["id"] == user.user_id)


def test_the_loading_animation_shows_while_the_counselor_types_and_is_not_repeated_every_keystroke(
        client, user, line, counselors, clock):
    auth = counselors("c1")
    queued(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    assert client.post(f"/api/v1/consultations/{cid}/typing", headers=auth).json["shown"] is False  # not claimed
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    assert phone(line, user)["loading"] is False
    assert client.post(f"/api/v1/consultations/{cid}/typing", headers=auth).json["shown"] is True
    assert phone(line, user)["loading"] is True
    clock.advance(seconds=5)
    assert client.post(f"/api/v1/consultations/{cid}/typing", headers=auth).json["shown"] is False
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": "お待たせしました。"})
    assert phone(line, user)["loading"] is False  # the message ended it
    clock.advance(seconds=15)
    assert client.post(f"/api/v1/consultations/{cid}/typing", headers=auth).json["shown"] is True
    loading_calls = [c for c in line.platform.api_calls() if c.path == "/v2/bot/chat/loading/start"]
    assert [c.status for c in loading_calls] == [202, 202]


def test_the_users_messages_show_as_read_when_their_counselor_opens_the_chat(
        client, user, line, counselors):
    auth, other = counselors("c1"), counselors("c2")
    queued(user)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.get(f"/api/v1/consultations/{cid}", headers=auth)
    assert phone(line, user)["read_by_bot_up_to"] is None  # nobody has taken it yet: not 既読
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    event = line.platform.text_event(user.user_id, "よろしくお願いします")
    user.post([event])
    client.get(f"/api/v1/consultations/{cid}", headers=other)  # a colleague looking is not the counselor
    assert phone(line, user)["read_by_bot_up_to"] is None
    client.get(f"/api/v1/consultations/{cid}", headers=auth)
    assert phone(line, user)["read_by_bot_up_to"] == event["message"]["id"]
    client.get(f"/api/v1/consultations/{cid}", headers=auth)  # nothing new: no second call
    calls = [c for c in line.platform.api_calls() if c.path == "/v2/bot/chat/markAsRead"]
    assert [c.status for c in calls] == [200]


@pytest.mark.parametrize("mode,marked", [("off", False), ("chat", True)])
def test_marking_as_read_by_user_id_where_the_channel_allows_it_or_not_at_all(settings, clock, line, mode, marked):
    from dataclasses import replace

    from bot.app import create_app
    from tests.conftest import LineUser

    app = create_app(replace(settings, line_mark_as_read=mode), clock=clock)
    try:
        http = app.test_client()
        with svc(app).sessions.begin() as db:
            org = consultation_repo.ensure_default_organization(db, clock())
            member = staff_repo.create(db, "c1", PASSWORD, "counselor", org, clock())
            auth = {"Authorization": f"Bearer {staff_repo.issue_token(member, clock())}"}
        user = LineUser(line.platform, http)
        queued(user)
        cid = http.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
        http.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
        event = line.platform.text_event(user.user_id, "こんにちは")
        user.post([event])
        http.get(f"/api/v1/consultations/{cid}", headers=auth)
        assert phone(line, user)["read_by_bot_up_to"] == (event["message"]["id"] if marked else None)
        by_user = [c for c in line.platform.api_calls() if c.path == "/v2/bot/message/markAsRead"]
        assert len(by_user) == int(marked)
    finally:
        svc(app).sender.stop()
        svc(app).gateway.close()
        svc(app).engine.dispose()


def test_logs_of_the_evening_and_the_touches_carry_no_line_id_nor_words(
        app, client, user, line, counselors, clock, caplog):
    import logging

    from bot import evening_jobs, jobs

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    words = "夜になると母のことを考えてしまう"
    auth = counselors("c1")
    for step in ["こんばんは", "同意して進む", "本人", "20代", "札幌市", "仕事・就労", words]:
        user.says(step)
    cid = client.get("/api/v1/queue", headers=auth).json["queue"][0]["id"]
    client.post(f"/api/v1/consultations/{cid}/claim", headers=auth)
    line.platform.fail_next(3, 403)  # LINE refuses the loading animation, the read mark and a reply
    client.post(f"/api/v1/consultations/{cid}/typing", headers=auth)
    user.says(words)
    client.get(f"/api/v1/consultations/{cid}", headers=auth)
    client.post(f"/api/v1/consultations/{cid}/messages", headers=auth, json={"text": words})
    clock.advance(hours=30)  # past 21:00 and the outbox's give-up: every evening job has work
    assert jobs.run_all(svc(app))["dead_letters"] == 1
    assert {r.name for r in caplog.records} >= {"bot.line_touches"}
    captured = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert user.user_id not in captured and words not in captured
    assert evening_jobs.JOBS.keys() <= jobs.run_all(svc(app)).keys()
