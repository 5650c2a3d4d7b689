"""The rich menu (issue 10): drawn by the project itself (Pillow) and set on LINE through line-bot-sdk.

`tsunagu richmenu apply` creates the menu object (`MessagingApi.create_rich_menu`), uploads the image to
LINE's blob host (`MessagingApiBlob.set_rich_menu_image`), makes it the default for every user
(`set_default_rich_menu`), then deletes the menus an earlier apply left behind (named `tsunagu…`).
Its four taps are postbacks `menu=<code>` (flows/menu.py), answered by flows/consultation.py's postback
handler: 相談する starts the intake, the others answer with the hours, the emergency lines, the family page.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)

from bot.config import Settings, data_api_url
from flows import texts
from flows.menu import ITEMS, MenuItem, postback_data

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 2500, 843  # LINE's compact size: the chat stays visible above it
NAME_PREFIX = "tsunagu"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
# Calm colours, one per tap; the emergency one is warm but not alarming.
COLOURS = {"consult": (46, 125, 110), "hours": (84, 110, 160), "emergency": (184, 80, 66), "family": (150, 110, 60)}
BACKGROUND = (250, 247, 240)


class RichMenuError(RuntimeError):
    """The menu could not be drawn or set (no Japanese font, LINE refused it): said plainly to the operator."""


@dataclass(frozen=True)
class Applied:
    rich_menu_id: str
    image_bytes: int
    deleted: tuple[str, ...]


def find_font(configured: str = "") -> Path:
    """A font with Japanese glyphs: RICHMENU_FONT, else the first of the usual Debian places."""
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise RichMenuError("no Japanese font for the rich menu image: apt-get install fonts-ipafont-gothic, "
                        "or set RICHMENU_FONT to a .ttf/.otf/.ttc with Japanese glyphs")


def columns() -> list[tuple[MenuItem, tuple[int, int, int, int]]]:
    """Each item with its tap area (x, y, width, height): four equal columns."""
    width = WIDTH // len(ITEMS)
    return [(item, (i * width, 0, WIDTH - i * width if i == len(ITEMS) - 1 else width, HEIGHT))
            for i, item in enumerate(ITEMS)]


def draw(font_path: Path) -> bytes:
    """The menu image as PNG: a rounded tile per tap with a simple drawn sign and its label."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    pen = ImageDraw.Draw(image)
    label_font = ImageFont.truetype(str(font_path), 92)
    for item, (x, y, w, h) in columns():
        colour = COLOURS[item.code]
        pen.rounded_rectangle((x + 28, y + 40, x + w - 28, y + h - 40), radius=60, fill=colour)
        cx, cy = x + w // 2, y + 250
        _sign(pen, item.code, cx, cy)
        words = _wrap(item.label, label_font, pen, w - 120)
        line_height = 112
        top = y + 590 - (len(words) - 1) * line_height // 2
        for n, line in enumerate(words):
            pen.text((cx, top + n * line_height), line, font=label_font, fill="white", anchor="mm")
    out = io.BytesIO()
    # A palette image: flat colours compress to a few tens of kB (LINE's limit is 1 MB).
    image.quantize(colors=64).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _wrap(label: str, font, pen, max_width: int) -> list[str]:  # noqa: ANN001
    """One line, or two broken where Japanese reads naturally (after の or る, nearest the middle)."""
    if pen.textlength(label, font=font) <= max_width:
        return [label]
    breaks = [i + 1 for i, ch in enumerate(label[:-1]) if ch in "のる"] or [len(label) // 2]
    cut = min(breaks, key=lambda i: abs(i - len(label) / 2))
    return [label[:cut], label[cut:]]


def _sign(pen, code: str, cx: int, cy: int) -> None:  # noqa: ANN001
    """A plain drawn sign per tap (no image files, no emoji font): speech bubble, clock, phone, house."""
    white = "white"
    if code == "consult":
        pen.rounded_rectangle((cx - 130, cy - 100, cx + 130, cy + 70), radius=50, fill=white)
        pen.polygon([(cx - 60, cy + 60), (cx - 110, cy + 130), (cx - 10, cy + 65)], fill=white)
    elif code == "hours":
        pen.ellipse((cx - 125, cy - 125, cx + 125, cy + 125), outline=white, width=22)
        pen.line((cx, cy, cx, cy - 80), fill=white, width=22)
        pen.line((cx, cy, cx + 60, cy + 30), fill=white, width=22)
    elif code == "emergency":
        pen.rounded_rectangle((cx - 70, cy - 130, cx + 70, cy + 130), radius=30, outline=white, width=20)
        pen.ellipse((cx - 16, cy + 75, cx + 16, cy + 107), fill=white)
        pen.line((cx - 30, cy - 100, cx + 30, cy - 100), fill=white, width=14)
    else:
        pen.polygon([(cx, cy - 130), (cx - 140, cy), (cx + 140, cy)], fill=white)
        pen.rectangle((cx - 100, cy, cx + 100, cy + 120), fill=white)


def menu_request() -> RichMenuRequest:
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT), selected=True, name=f"{NAME_PREFIX} main menu",
        chat_bar_text=texts.MENU_CHAT_BAR,
        areas=[RichMenuArea(bounds=RichMenuBounds(x=x, y=y, width=w, height=h),
                            action=PostbackAction(label=item.label, data=postback_data(item),
                                                  display_text=item.label))
               for item, (x, y, w, h) in columns()],
    )


def _clients(settings: Settings) -> tuple[ApiClient, ApiClient]:
    api = ApiClient(Configuration(host=settings.line_api_base_url.rstrip("/"),
                                  access_token=settings.line_channel_access_token))
    blob = ApiClient(Configuration(host=data_api_url(settings), access_token=settings.line_channel_access_token))
    return api, blob


def apply(settings: Settings, image: bytes | None = None) -> Applied:
    """Create the menu, upload its image, make it everyone's default, delete earlier tsunagu menus."""
    if not settings.line_channel_access_token:
        raise RichMenuError("LINE_CHANNEL_ACCESS_TOKEN is missing")
    image = image if image is not None else draw(find_font(settings.richmenu_font))
    api_client, blob_client = _clients(settings)
    try:
        api, blob = MessagingApi(api_client), MessagingApiBlob(blob_client)
        earlier = [m.rich_menu_id for m in api.get_rich_menu_list().richmenus
                   if (m.name or "").startswith(NAME_PREFIX)]
        menu_id = api.create_rich_menu(menu_request()).rich_menu_id
        blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"})
        api.set_default_rich_menu(menu_id)
        for old in earlier:
            api.delete_rich_menu(old)
        log.info("rich menu %s set as default (%s bytes); %s earlier one(s) deleted", menu_id, len(image),
                 len(earlier))
        return Applied(menu_id, len(image), tuple(earlier))
    finally:
        api_client.close()
        blob_client.close()


def describe(settings: Settings) -> list[str]:
    """The channel's rich menus, default first marked (for `tsunagu richmenu list`)."""
    api_client, _ = _clients(settings)
    try:
        api = MessagingApi(api_client)
        try:
            default = api.get_default_rich_menu_id().rich_menu_id
        except ApiException as exc:
            if exc.status != 404:  # 404: no default menu
                raise
            default = None
        return [f"{'*' if m.rich_menu_id == default else ' '} {m.rich_menu_id}  {m.name}  "
                f"{m.size.width}x{m.size.height}" for m in api.get_rich_menu_list().richmenus]
    finally:
        api_client.close()
