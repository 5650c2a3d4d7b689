"""Saved replies' placeholders: {相談者} and the like, filled in for the chat they are inserted into."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = {
    "相談者": "相談者の仮名（例：相談者-7K2Q）",
    "担当者": "あなたの表示名",
    "団体": "相談を受けている団体の名前",
    "受付時間": "相談の受付時間（例：16:00-21:00）",
}
_FIELD = re.compile(r"\{([^{}\s]{1,20})\}")


def unknown_placeholders(text: str) -> list[str]:
    """Placeholders in `text` that nothing fills in (a typo would otherwise reach the user as is)."""
    return sorted({name for name in _FIELD.findall(text) if name not in PLACEHOLDERS})


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill in the known placeholders; anything else stays as written."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)
