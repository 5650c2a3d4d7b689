"""The Messaging API's rich menus, as the emulator keeps them: the menu objects (api.line.me), their images
(the blob host, api-data.line.me) and the default menu every user sees.

Rules follow LINE's reference: a menu object is validated on create; its image is PNG or JPEG, at most 1 MB,
exactly the menu's size, and uploaded once; a menu without an image cannot become the default.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from linesim.messages import Detail, bad_request

MAX_IMAGE_BYTES = 1024 * 1024
MAX_AREAS = 20
ACTION_TYPES = frozenset({"postback", "message", "uri", "datetimepicker", "richmenuswitch", "camera",
                          "cameraRoll", "location", "clipboard"})


@dataclass
class RichMenus:
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the menu object with its id
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (content type, bytes)
    default: str | None = None

    def create(self, menu: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problems = validate_menu(menu)
        if problems:
            return 400, bad_request(problems)
        menu_id = "richmenu-" + secrets.token_hex(16)
        self.menus[menu_id] = {"richMenuId": menu_id, **menu}
        return 200, {"richMenuId": menu_id}

    def upload(self, menu_id: str, content_type: str, image: bytes) -> tuple[int, dict[str, Any]]:
        menu = self.menus.get(menu_id)
        if menu is None:
            return 404, {"message": "Not found"}
        if menu_id in self.images:
            return 400, {"message": "An image has already been uploaded to the richmenu"}
        kind = content_type.split(";")[0].strip().lower()
        if kind not in ("image/png", "image/jpeg"):
            return 415, {"message": "Unsupported Media Type: use image/png or image/jpeg"}
        if len(image) > MAX_IMAGE_BYTES:
            return 413, {"message": "The image is larger than 1 MB"}
        size = image_size(image)
        if size is None or (kind == "image/png") != image.startswith(b"\x89PNG"):
            return 400, {"message": "The image could not be read as " + kind}
        wanted = (menu["size"]["width"], menu["size"]["height"])
        if size != wanted:
            return 400, {"message": f"The image is {size[0]}x{size[1]}; the rich menu is {wanted[0]}x{wanted[1]}"}
        self.images[menu_id] = (kind, image)
        return 200, {}

    def set_default(self, menu_id: str) -> tuple[int, dict[str, Any]]:
        if menu_id not in self.menus:
            return 404, {"message": "Not found"}
        if menu_id not in self.images:
            return 400, {"message": "must upload richmenu image before applying it to user"}
        self.default = menu_id
        return 200, {}

    def delete(self, menu_id: str) -> tuple[int, dict[str, Any]]:
        if self.menus.pop(menu_id, None) is None:
            return 404, {"message": "Not found"}
        self.images.pop(menu_id, None)
        if self.default == menu_id:
            self.default = None
        return 200, {}


def validate_menu(menu: Any) -> list[Detail]:
    if not isinstance(menu, dict):
        return [{"message": "Must be an object", "property": "richMenu"}]
    problems: list[Detail] = []
    size = menu.get("size")
    width = size.get("width") if isinstance(size, dict) else None
    height = size.get("height") if isinstance(size, dict) else None
    if type(width) is not int or type(height) is not int:
        return [{"message": "must be specified", "property": "size"}]
    if not 800 <= width <= 2500 or not 250 <= height <= 1686 or width / height < 1.45:
        problems.append({"message": "width 800-2500, height 250-1686, width/height at least 1.45",
                         "property": "size"})
    if not isinstance(menu.get("selected"), bool):
        problems.append({"message": "must be specified", "property": "selected"})
    for name, limit in (("name", 300), ("chatBarText", 14)):
        value = menu.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            problems.append({"message": f"Length must be between 1 and {limit}", "property": name})
    areas = menu.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= MAX_AREAS:
        problems.append({"message": f"Size must be between 1 and {MAX_AREAS}", "property": "areas"})
        return problems
    for i, area in enumerate(areas):
        problems.extend(_validate_area(area, width, height, f"areas[{i}]"))
    return problems


def _validate_area(area: Any, width: int, height: int, where: str) -> list[Detail]:
    bounds = area.get("bounds") if isinstance(area, dict) else None
    action = area.get("action") if isinstance(area, dict) else None
    problems: list[Detail] = []
    values = [bounds.get(k) for k in ("x", "y", "width", "height")] if isinstance(bounds, dict) else []
    if len(values) != 4 or any(type(v) is not int or v < 0 for v in values):
        problems.append({"message": "must be specified", "property": f"{where}.bounds"})
    else:
        x, y, w, h = values
        if w == 0 or h == 0 or x + w > width or y + h > height:
            problems.append({"message": "The area is outside the rich menu", "property": f"{where}.bounds"})
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        problems.append({"message": "Invalid action type", "property": f"{where}.action.type"})
        return problems
    if action["type"] == "postback":
        data = action.get("data")
        if not isinstance(data, str) or not 1 <= len(data) <= 300:
            problems.append({"message": "Length must be between 1 and 300", "property": f"{where}.action.data"})
    if action["type"] == "message":
        text = action.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 300:
            problems.append({"message": "Length must be between 1 and 300", "property": f"{where}.action.text"})
    label = action.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 20):
        problems.append({"message": "Length must be at most 20", "property": f"{where}.action.label"})
    return problems


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG, read from its header; None when it is neither."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height, then width
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None
