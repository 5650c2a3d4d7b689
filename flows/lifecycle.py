"""The consultation lifecycle as one declared table: intake -> waiting -> active -> closed, and the
crisis path beside it.

Modelled on python-telegram-bot's ConversationHandler: a table of states, each with its handler for an
ordinary message and its own fallbacks (typed commands such as 終わり). The difference that matters for
safety is that fallbacks are declared PER STATE: the at-risk states (risk high or imminent) simply do
not list a closing action, so no keyword, block or timeout can close them; only staff can (flows/handoff).

The state is not held in memory: it is derived from two durable columns of the consultation (`state`
and `risk_rank`), so `state_of(...)` read from the database is the whole truth. The engine is pure:
`decide(table, state, event, text) -> action name`; flows/consultation.py maps action names to steps.
The table is checked when it is built: unknown actions, a closing action or a timeout in an at-risk
state, or an at-risk state that forgets to answer one of its base state's closing words, is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flows import texts
from flows.engine import normalize

AT_RISK_RANK = 2  # high (2) and imminent (3)
EVENTS = ("text", "non_text", "block")
# Actions that end a consultation; never allowed in an at-risk state.
CLOSING_ACTIONS = frozenset({"close_by_user", "close_blocked"})
# Actions that speak of a queue (position, 「順番」); never in an at-risk state either (issue 10): a person
# at risk was promised priority and must not hear otherwise.
QUEUE_STATUS_ACTIONS = frozenset({"tell_position", "notify_turn", "same_counselor"})


class LifecycleDefinitionError(ValueError):
    """A lifecycle table that could close a consultation at risk, or name a step that does not exist."""


@dataclass(frozen=True)
class LifeState:
    name: str
    on: Mapping[str, str]  # event (text, non_text, block) -> action
    commands: Mapping[str, str] = field(default_factory=dict)  # typed word -> action (this state's fallbacks)
    at_risk: bool = False
    timeout_closes: bool = False  # may a scheduled sweep close it (the intake's silence timeout)
    base: str | None = None  # for an at-risk state: the ordinary state it shadows

    def command(self, text: str) -> str | None:
        return {normalize(k): v for k, v in self.commands.items()}.get(normalize(text))


@dataclass(frozen=True)
class Lifecycle:
    states: tuple[LifeState, ...]
    actions: frozenset[str]  # every action the runner implements
    state_map: dict[str, LifeState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_map", {s.name: s for s in self.states})
        _validate(self)

    def state(self, name: str) -> LifeState:
        return self.state_map[name]


def state_of(db_state: str | None, risk_rank: int) -> str:
    """The lifecycle state of a consultation from its stored columns (None: no open consultation)."""
    if db_state is None or db_state == "closed":
        return "none"
    return f"{db_state}_at_risk" if risk_rank >= AT_RISK_RANK else db_state


def decide(lifecycle: Lifecycle, state: str, event: str, text: str | None = None) -> str:
    """The action for an event in a state: a command of this state if the text is one, else its handler."""
    spec = lifecycle.state(state)
    if event == "text" and text is not None:
        command = spec.command(text)
        if command is not None:
            return command
    return spec.on[event]


def may_timeout(lifecycle: Lifecycle, state: str) -> bool:
    return lifecycle.state(state).timeout_closes


def _words(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for g in groups for w in g))


def build_lifecycle(actions: Iterable[str]) -> Lifecycle:
    end = _words(texts.COMMAND_END)
    end_or_cancel = _words(texts.COMMAND_END, texts.COMMAND_CANCEL)
    return Lifecycle(
        states=(
            LifeState("none", on={"text": "start", "non_text": "start", "block": "ignore"}),
            # The intake flow has its own commands (やめる, 最初から) inside flows/intake.py.
            LifeState("intake", on={"text": "advance_intake", "non_text": "repeat_intake_question",
                                    "block": "close_blocked"}, timeout_closes=True),
            LifeState("waiting", on={"text": "ack_waiting", "non_text": "ack_waiting", "block": "close_blocked"},
                      commands={**{w: "close_by_user" for w in end_or_cancel},
                                **{w: "tell_position" for w in texts.COMMAND_POSITION},
                                **{w: "notify_turn" for w in texts.COMMAND_NOTIFY},
                                **{w: "same_counselor" for w in texts.COMMAND_SAME_COUNSELOR}}),
            LifeState("active", on={"text": "relay", "non_text": "relay", "block": "note_blocked"},
                      commands={w: "close_by_user" for w in end}),
            # The crisis path: same places, no way out but staff.
            LifeState("intake_at_risk", base="intake", at_risk=True,
                      on={"text": "queue_at_risk", "non_text": "queue_at_risk", "block": "note_blocked_at_risk"},
                      commands={w: "hold_at_risk" for w in _words(end_or_cancel, texts.COMMAND_RESTART)}),
            LifeState("waiting_at_risk", base="waiting", at_risk=True,
                      on={"text": "ack_at_risk", "non_text": "ack_at_risk", "block": "note_blocked_at_risk"},
                      commands={w: "hold_at_risk" for w in end_or_cancel}),
            LifeState("active_at_risk", base="active", at_risk=True,
                      on={"text": "relay", "non_text": "relay", "block": "note_blocked_at_risk"},
                      commands={w: "hold_at_risk" for w in end_or_cancel}),
        ),
        actions=frozenset(actions),
    )


def _validate(lc: Lifecycle) -> None:
    problems: list[str] = []
    names = [s.name for s in lc.states]
    if len(set(names)) != len(names):
        problems.append("duplicate state names")
    for s in lc.states:
        for event in EVENTS:
            if event not in s.on:
                problems.append(f"state {s.name!r} does not say what happens on {event!r}")
        used = {*s.on.values(), *s.commands.values()}
        for action in sorted(used - lc.actions):
            problems.append(f"state {s.name!r} names unknown action {action!r}")
        if s.at_risk:
            for action in sorted(used & CLOSING_ACTIONS):
                problems.append(f"at-risk state {s.name!r} may not close ({action!r}); only staff close it")
            for action in sorted(used & QUEUE_STATUS_ACTIONS):
                problems.append(f"at-risk state {s.name!r} may not speak of a queue ({action!r})")
            if s.timeout_closes:
                problems.append(f"at-risk state {s.name!r} may not be closed by a timeout")
            base = lc.state_map.get(s.base or "")
            if base is None:
                problems.append(f"at-risk state {s.name!r} shadows no ordinary state")
            else:
                # A word that closes the ordinary state must get the gentle answer here, not a generic one.
                closing_words = {normalize(w) for w, a in base.commands.items() if a in CLOSING_ACTIONS}
                forgotten = closing_words - {normalize(w) for w in s.commands}
                if forgotten:
                    problems.append(f"at-risk state {s.name!r} does not answer {sorted(forgotten)}")
    for db_state in ("intake", "waiting", "active"):
        for rank in (0, AT_RISK_RANK):
            if state_of(db_state, rank) not in lc.state_map:
                problems.append(f"no state for a consultation in {db_state!r} at risk rank {rank}")
    if problems:
        raise LifecycleDefinitionError("lifecycle: " + "; ".join(problems))
