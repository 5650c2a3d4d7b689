"""The intake conversation, as a table: consent -> (welcome back) -> who -> age -> area -> concern
-> free text -> queued. Texts are in flows/texts.py; the engine is flows/engine.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flows import texts
from flows.engine import CANCEL, END, Choice, Flow, Step

INTAKE = "intake"
ANSWER_FIELDS = ("who", "age_band", "area", "concern")

_WHO_ALIASES = {
    "self": ("本人です", "自分", "私", "わたし", "僕", "ぼく", "俺"),
    "family": ("家族です", "親", "母", "父", "母親", "父親", "きょうだい", "兄弟", "姉妹", "妻", "夫"),
    "other": ("その他です", "支援者", "友人", "知人"),
}


def _choices(labels: Mapping[str, str], aliases: Mapping[str, Sequence[str]] | None = None) -> tuple[Choice, ...]:
    aliases = aliases or {}
    return tuple(Choice(code, label, tuple(aliases.get(code, ()))) for code, label in labels.items())


def _age_aliases() -> dict[str, tuple[str, ...]]:
    return {"10s": ("10", "十代"), "20s": ("20", "二十代"), "30s": ("30", "三十代"), "40s": ("40", "四十代"),
            "50plus": ("50代", "60代", "70代", "50", "60", "五十代"), "no_answer": ("答えない", "ひみつ", "秘密")}


def build_intake_flow(areas: Sequence[str], timeout: timedelta = timedelta(minutes=30)) -> Flow:
    """The intake flow for a consortium's list of municipalities (at most 11, LINE shows 13 chips)."""
    area_choices = tuple(Choice(a, a) for a in areas) + (
        Choice("other_area", texts.AREA_OTHER, ("その他", "他", "ほか")),
        Choice("no_answer", texts.AREA_NO_ANSWER, ("答えない",)),
    )
    steps = (
        Step("consent", texts.CONSENT,
             choices=(Choice("yes", texts.CONSENT_YES, ("はい", "同意", "同意します", "ok", "進む")),
                      Choice("no", texts.CONSENT_NO, ("いいえ", "しない", "同意しない"))),
             save_as="consent", next={"yes": "welcome_back", "no": CANCEL},
             skip_if=lambda d: bool(d.get("consented_before"))),
        Step("welcome_back", texts.WELCOME_BACK,
             choices=(Choice("same", texts.WELCOME_BACK_SAME, ("はい", "同じ", "そのまま"), merge="previous"),
                      Choice("again", texts.WELCOME_BACK_AGAIN, ("いいえ", "変わった", "違う"))),
             next={"again": "who", "same": "topic"},
             skip_if=lambda d: not d.get("previous")),
        Step("who", texts.WHO, choices=_choices(texts.WHO_LABELS, _WHO_ALIASES), save_as="who", next="age_band"),
        Step("age_band", texts.AGE, choices=_choices(texts.AGE_LABELS, _age_aliases()), save_as="age_band",
             next="area"),
        Step("area", texts.AREA, choices=area_choices, save_as="area", next="concern"),
        Step("concern", texts.CONCERN, choices=_choices(texts.CONCERN_LABELS), save_as="concern", next="topic"),
        Step("topic", texts.TOPIC, free_text=True, next=END),
    )
    return Flow(
        name=INTAKE,
        entry="consent",
        steps=steps,
        timeout=timeout,
        commands={**{w: "cancel" for w in texts.COMMAND_CANCEL}, **{w: "restart" for w in texts.COMMAND_RESTART}},
        texts={"invalid": texts.INVALID, "cancelled": texts.CANCELLED, "restarted": texts.RESTARTED,
               "declined": texts.DECLINED},
    )


def summary(answers: Mapping[str, Any], areas_label: Mapping[str, str] | None = None) -> str:
    """「家族・40代・○○市・仕事・就労」: earlier answers, for the welcome-back question."""
    parts = [
        texts.WHO_LABELS.get(answers.get("who") or "", ""),
        texts.AGE_LABELS.get(answers.get("age_band") or "", ""),
        area_label(answers.get("area")),
        texts.CONCERN_LABELS.get(answers.get("concern") or "", ""),
    ]
    return "・".join(p for p in parts if p)


def area_label(code: str | None) -> str:
    if code == "other_area":
        return texts.AREA_OTHER
    if code == "no_answer":
        return texts.AREA_NO_ANSWER
    return code or ""
