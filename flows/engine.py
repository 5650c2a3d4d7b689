"""A small, pure conversation engine: a flow is data (steps, prompts, quick replies, transitions);
one engine runs every flow.

Modelled on python-telegram-bot's ConversationHandler (one table of states, entry point, fallbacks
as commands, a timeout) but with state that is plain data the caller stores durably, string step
names, and the next step declared in the table rather than returned from a callback.

`(flow, state, text, now) -> Outcome`: no Flask, LINE, SQL or clock inside.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

END = "__end__"
CANCEL = "__cancel__"
MAX_QUICK_REPLIES = 13  # LINE's limit
MAX_LABEL_CHARS = 20  # LINE's limit for a quick-reply label


class FlowDefinitionError(ValueError):
    """A flow table that could strand a user (unknown step, unreachable step, too many choices…)."""


def normalize(text: str) -> str:
    """What counts as "the same answer": width, case and surrounding blanks do not matter."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return "".join(ch for ch in text if not ch.isspace())


@dataclass(frozen=True)
class Choice:
    value: str  # the code stored (e.g. "family")
    label: str  # the quick-reply label; tapping it sends this text
    aliases: tuple[str, ...] = ()  # other typed answers that mean the same
    merge: str | None = None  # copy this data key's dict into the answers (e.g. earlier answers)


@dataclass(frozen=True)
class Step:
    name: str
    prompt: str  # may use {placeholders} filled from the flow's data
    choices: tuple[Choice, ...] = ()
    save_as: str | None = None
    next: str | Mapping[str, str] = END  # a step name, or per choice value
    free_text: bool = False  # any non-empty text answers it
    max_len: int = 2000
    skip_if: Callable[[Mapping[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    entry: str
    steps: tuple[Step, ...]
    timeout: timedelta
    commands: Mapping[str, str]  # typed word -> "cancel" | "restart"
    texts: Mapping[str, str]  # invalid, cancelled, restarted, declined
    step_map: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step_map", {s.name: s for s in self.steps})
        _validate(self)

    def step(self, name: str) -> Step:
        return self.step_map[name]


@dataclass(frozen=True)
class Prompt:
    text: str
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class FlowState:
    step: str
    data: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    status: str  # "asking", "completed", "cancelled", "expired"
    state: FlowState | None
    say: tuple[Prompt, ...] = ()
    answers: dict[str, Any] = field(default_factory=dict)


def start(flow: Flow, now: datetime, data: Mapping[str, Any] | None = None,
          *, preface: tuple[Prompt, ...] = ()) -> Outcome:
    return _enter(flow, flow.entry, dict(data or {}), now, preface)


def advance(flow: Flow, state: FlowState, text: str, now: datetime) -> Outcome:
    if state.expires_at <= now:
        return Outcome("expired", None, answers=dict(state.data))
    answer = normalize(text)
    command = {normalize(k): v for k, v in flow.commands.items()}.get(answer)
    if command == "cancel":
        return Outcome("cancelled", None, (Prompt(flow.texts["cancelled"]),), dict(state.data))
    if command == "restart":
        keep = {k: v for k, v in state.data.items() if k.startswith("_") or k in ("previous", "consented_before")}
        return start(flow, now, keep, preface=(Prompt(flow.texts["restarted"]),))

    step = flow.step(state.step)
    data = dict(state.data)
    if step.choices:
        choice = match_choice(step, answer)
        if choice is None:
            return _repeat(flow, step, data, now)
        if choice.merge:
            data.update(data.get(choice.merge) or {})
        if step.save_as:
            data[step.save_as] = choice.value
        target = step.next if isinstance(step.next, str) else step.next.get(choice.value, END)
    else:
        cleaned = text.strip()
        if not cleaned or len(cleaned) > step.max_len:
            return _repeat(flow, step, data, now)
        if step.save_as:
            data[step.save_as] = cleaned
        target = step.next if isinstance(step.next, str) else END
    if target == CANCEL:
        return Outcome("cancelled", None, (Prompt(flow.texts["declined"]),), data)
    return _enter(flow, target, data, now, ())


_POLITE_ENDINGS = ("です", "でした", "だよ", "だ", "。", "!", "！")


def match_choice(step: Step, answer: str) -> Choice | None:
    # "母です" answers "who" as well as "母" does: people write politely.
    candidates = {answer}
    for ending in _POLITE_ENDINGS:
        if answer.endswith(ending) and len(answer) > len(ending):
            candidates.add(answer[: -len(ending)])
    for choice in step.choices:
        if candidates & {normalize(choice.label), normalize(choice.value), *map(normalize, choice.aliases)}:
            return choice
    return None


def prompt_for(flow: Flow, step_name: str, data: Mapping[str, Any]) -> Prompt:
    step = flow.step(step_name)
    return Prompt(step.prompt.format_map(_Blank(data)), step.choices)


def _enter(flow: Flow, name: str, data: dict[str, Any], now: datetime, preface: tuple[Prompt, ...]) -> Outcome:
    while name != END:
        step = flow.step(name)
        if step.skip_if is None or not step.skip_if(data):
            state = FlowState(step=name, data=data, expires_at=now + flow.timeout)
            return Outcome("asking", state, (*preface, prompt_for(flow, name, data)), data)
        # A skipped step passes on along its default (first) transition.
        name = step.next if isinstance(step.next, str) else next(iter(step.next.values()))
    return Outcome("completed", None, preface, data)


def _repeat(flow: Flow, step: Step, data: dict[str, Any], now: datetime) -> Outcome:
    state = FlowState(step=step.name, data=data, expires_at=now + flow.timeout)
    return Outcome("asking", state, (Prompt(flow.texts["invalid"]), prompt_for(flow, step.name, data)), data)


class _Blank(dict):
    """format_map that leaves unknown placeholders empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""


def _targets(step: Step) -> list[str]:
    return [step.next] if isinstance(step.next, str) else list(step.next.values())


def _validate(flow: Flow) -> None:
    names = [s.name for s in flow.steps]
    problems: list[str] = []
    if len(set(names)) != len(names):
        problems.append("duplicate step names")
    if flow.entry not in flow.step_map:
        problems.append(f"entry step {flow.entry!r} is not defined")
    for key in ("invalid", "cancelled", "restarted", "declined"):
        if key not in flow.texts:
            problems.append(f"missing text {key!r}")
    for step in flow.steps:
        for target in _targets(step):
            if target not in flow.step_map and target not in (END, CANCEL):
                problems.append(f"step {step.name!r} goes to unknown step {target!r}")
        if not isinstance(step.next, str):
            values = {c.value for c in step.choices}
            for value in step.next:
                if value not in values:
                    problems.append(f"step {step.name!r} routes unknown choice {value!r}")
        if step.choices and step.free_text:
            problems.append(f"step {step.name!r} cannot be both choices and free text")
        if not step.choices and not step.free_text:
            problems.append(f"step {step.name!r} has neither choices nor free text")
        if len(step.choices) > MAX_QUICK_REPLIES:
            problems.append(f"step {step.name!r} has {len(step.choices)} choices (LINE allows 13)")
        for choice in step.choices:
            if not 1 <= len(choice.label) <= MAX_LABEL_CHARS:
                problems.append(f"label {choice.label!r} in {step.name!r} must be 1-20 characters")
    # Every step must be reachable from the entry, or a user could never get there (dead text).
    if flow.entry in flow.step_map:
        seen, todo = set(), [flow.entry]
        while todo:
            name = todo.pop()
            if name in seen or name not in flow.step_map:
                continue
            seen.add(name)
            todo.extend(_targets(flow.step_map[name]))
        for name in names:
            if name not in seen:
                problems.append(f"step {name!r} is unreachable")
    if problems:
        raise FlowDefinitionError(f"flow {flow.name!r}: " + "; ".join(problems))
