"""The consultation lifecycle table: per-state commands, and a table that could close a consultation at
risk is refused when it is built."""

import dataclasses

import pytest

from flows import consultation as domain
from flows import lifecycle
from flows.lifecycle import LifecycleDefinitionError, LifeState, build_lifecycle, decide, state_of

TABLE = domain.LIFECYCLE


@pytest.mark.parametrize("db_state,rank,expected", [
    (None, 0, "none"), ("closed", 3, "none"),
    ("intake", 0, "intake"), ("intake", 1, "intake"), ("intake", 2, "intake_at_risk"),
    ("waiting", 1, "waiting"), ("waiting", 2, "waiting_at_risk"),
    ("active", 0, "active"), ("active", 3, "active_at_risk"),
])
def test_the_state_is_read_from_the_stored_columns(db_state, rank, expected):
    assert state_of(db_state, rank) == expected


@pytest.mark.parametrize("state,text,action", [
    ("active", "終わり", "close_by_user"),
    ("active", "おわり", "close_by_user"),
    ("active", "終了 ", "close_by_user"),
    ("active", "やめる", "relay"),  # in a conversation, only an end word ends it
    ("waiting", "キャンセル", "close_by_user"),
    ("active_at_risk", "終わり", "hold_at_risk"),
    ("active_at_risk", "ｵﾜﾘ", "relay"),  # not a command word after normalizing: goes to the counselor
    ("waiting_at_risk", "やめる", "hold_at_risk"),
    ("waiting_at_risk", "終了", "hold_at_risk"),
    ("intake_at_risk", "最初から", "hold_at_risk"),
    ("waiting_at_risk", "こわい", "ack_at_risk"),
    ("none", "終わり", "start"),
])
def test_commands_are_fallbacks_of_each_state(state, text, action):
    assert decide(TABLE, state, "text", text) == action


@pytest.mark.parametrize("state,text,action", [
    ("waiting", "あと何人？", "tell_position"),
    ("waiting", "何番目?", "tell_position"),
    ("waiting", "順番が来たら知らせて", "notify_turn"),
    ("waiting", "前回の相談員を希望", "same_counselor"),
    ("waiting_at_risk", "あと何人？", "ack_at_risk"),  # at risk: no queue talk, only the gentle answer
    ("waiting_at_risk", "順番が来たら知らせて", "ack_at_risk"),
    ("active", "あと何人？", "relay"),
])
def test_the_queue_status_commands_belong_to_the_ordinary_waiting_state_only(state, text, action):
    assert decide(TABLE, state, "text", text) == action


@pytest.mark.parametrize("state,action", [
    ("intake", "close_blocked"), ("waiting", "close_blocked"), ("active", "note_blocked"),
    ("waiting_at_risk", "note_blocked_at_risk"), ("active_at_risk", "note_blocked_at_risk"),
])
def test_a_block_closes_only_where_nobody_is_at_risk(state, action):
    assert decide(TABLE, state, "block") == action


def test_no_at_risk_state_can_close_or_time_out():
    for s in TABLE.states:
        if s.at_risk:
            assert not ({*s.on.values(), *s.commands.values()} & lifecycle.CLOSING_ACTIONS)
            assert not lifecycle.may_timeout(TABLE, s.name)
    assert lifecycle.may_timeout(TABLE, "intake")


def _with(state_name, **changes):
    states = tuple(dataclasses.replace(s, **changes) if s.name == state_name else s for s in TABLE.states)
    return lambda: lifecycle.Lifecycle(states, TABLE.actions)


@pytest.mark.parametrize("broken,message", [
    (_with("active_at_risk", commands={"終わり": "close_by_user"}), "may not close"),
    (_with("waiting_at_risk", on={"text": "ack_at_risk", "non_text": "ack_at_risk", "block": "close_blocked"}),
     "may not close"),
    (_with("waiting_at_risk", timeout_closes=True), "timeout"),
    (_with("active_at_risk", commands={"終わり": "hold_at_risk"}), "does not answer"),
    (_with("waiting", commands={"終わり": "vanish"}), "unknown action"),
    (_with("active", on={"text": "relay", "non_text": "relay"}), "'block'"),
    # Issue 10: a person at risk never hears of a queue (position, 「順番」, the counselor of last time).
    (_with("waiting_at_risk", commands={**TABLE.state("waiting_at_risk").commands, "あと何人？": "tell_position"}),
     "may not speak of a queue"),
    (_with("waiting_at_risk", on={"text": "notify_turn", "non_text": "ack_at_risk", "block": "note_blocked_at_risk"}),
     "may not speak of a queue"),
])
def test_a_table_that_could_let_go_of_a_person_at_risk_is_refused(broken, message):
    with pytest.raises(LifecycleDefinitionError, match=message):
        broken()


def test_a_table_missing_the_crisis_path_is_refused():
    states = tuple(s for s in TABLE.states if s.name != "active_at_risk")
    with pytest.raises(LifecycleDefinitionError, match="no state for a consultation in 'active'"):
        lifecycle.Lifecycle(states, TABLE.actions)


def test_the_built_table_names_only_actions_the_runner_has():
    with pytest.raises(LifecycleDefinitionError, match="unknown action"):
        build_lifecycle(set(domain._ACTIONS) - {"hold_at_risk"})
    extra = LifeState("none", on={"text": "start", "non_text": "start", "block": "ignore"})
    with pytest.raises(LifecycleDefinitionError, match="duplicate"):
        lifecycle.Lifecycle((*TABLE.states, extra), TABLE.actions)
