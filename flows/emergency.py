"""The emergency-contacts message, built from emergency_contacts.toml (coordinators edit that file)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("emergency_contacts.toml")
REQUIRED = ("name", "number", "hours", "for", "source")

MODERATE_ACK = (
    "話してくれてありがとうございます。つらい気持ちを抱えているのですね。"
    "相談員が優先してお返事しますので、よければこのまま書いてください。"
)


@dataclass(frozen=True)
class Contact:
    name: str
    number: str
    hours: str
    purpose: str
    source: str


@dataclass(frozen=True)
class Contacts:
    intro_high: str
    intro_imminent: str
    outro: str
    contacts: tuple[Contact, ...]


def load_contacts(path: Path | str | None = None) -> Contacts:
    data = tomllib.loads(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
    problems = [f"missing {k}" for k in ("intro_high", "intro_imminent", "outro") if not data.get(k)]
    contacts = []
    for i, c in enumerate(data.get("contacts", [])):
        missing = [k for k in REQUIRED if not str(c.get(k, "")).strip()]
        if missing:
            problems.append(f"contact {i + 1}: missing {', '.join(missing)}")
            continue
        contacts.append(Contact(c["name"], c["number"], c["hours"], c["for"], c["source"]))
    if not contacts:
        problems.append("no contacts")
    if problems:
        raise ValueError("emergency_contacts.toml: " + "; ".join(problems))
    return Contacts(data["intro_high"], data["intro_imminent"], data["outro"], tuple(contacts))


@lru_cache(maxsize=1)
def _default() -> Contacts:
    return load_contacts()


def emergency_message(level: object, contacts: Contacts | None = None) -> str:
    c = contacts or _default()
    level_value = getattr(level, "value", level)
    intro = c.intro_imminent if level_value == "imminent" else c.intro_high
    lines = [intro, ""]
    for contact in c.contacts:
        lines.append(f"■{contact.name}　{contact.number}")
        lines.append(f"　{contact.hours}｜{contact.purpose}")
    lines += ["", c.outro]
    return "\n".join(lines)
