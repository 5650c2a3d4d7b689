"""The intake flow, run by the pure engine: no database, no LINE, a fixed clock."""

from datetime import UTC, datetime, timedelta

import pytest

from flows import engine, texts
from flows.engine import CANCEL, END, Choice, Flow, FlowDefinitionError, Step
from flows.intake import build_intake_flow, summary

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FLOW = build_intake_flow(["札幌市", "旭川市"])


def answer(state, text, now=NOW):
    return engine.advance(FLOW, state, text, now)


def test_a_first_time_user_is_asked_for_consent_with_quick_replies():
    outcome = engine.start(FLOW, NOW, {"consented_before": False})
    assert outcome.state.step == "consent"
    assert outcome.say[0].text == texts.CONSENT
    assert [c.label for c in outcome.say[0].choices] == [texts.CONSENT_YES, texts.CONSENT_NO]


def test_the_whole_intake_collects_codes_and_completes_on_free_text():
    o = engine.start(FLOW, NOW, {})
    for reply in ["同意して進む", "家族", "40代", "札幌市", "仕事・就労"]:
        o = answer(o.state, reply)
        assert o.status == "asking", reply
    assert o.state.step == "topic"
    o = answer(o.state, "息子が10年部屋から出てきません")
    assert o.status == "completed"
    assert {k: o.answers[k] for k in ("who", "age_band", "area", "concern")} == {
        "who": "family", "age_band": "40s", "area": "札幌市", "concern": "work"}


@pytest.mark.parametrize("typed", ["家族", "家 族", "母です", "家族です", "父親", "ＦＡＭＩＬＹ"])
def test_typing_a_label_or_a_plain_synonym_works_like_tapping(typed):
    o = engine.start(FLOW, NOW, {"consented_before": True})
    assert o.state.step == "who"
    o = answer(o.state, typed)
    assert o.state.step == "age_band"
    assert o.state.data["who"] == "family"


def test_off_script_text_is_answered_kindly_and_the_question_repeated():
    o = engine.start(FLOW, NOW, {"consented_before": True})
    o = answer(o.state, "えっと、よくわからないです")
    assert o.status == "asking" and o.state.step == "who"
    assert [p.text for p in o.say] == [texts.INVALID, texts.WHO]
    assert o.say[1].choices  # the quick replies come back with the question


def test_yameru_ends_the_flow_and_saishokara_restarts_it():
    o = engine.start(FLOW, NOW, {"consented_before": True})
    o = answer(o.state, "本人")
    cancelled = answer(o.state, "やめる")
    assert cancelled.status == "cancelled" and cancelled.state is None
    assert cancelled.say[0].text == texts.CANCELLED
    restarted = answer(o.state, "最初から")
    assert restarted.status == "asking" and restarted.state.step == "who"
    assert restarted.say[0].text == texts.RESTARTED
    assert "who" not in restarted.state.data


def test_declining_consent_ends_gently():
    o = engine.start(FLOW, NOW, {})
    o = answer(o.state, "やめておく")
    assert o.status == "cancelled"
    assert o.say[0].text == texts.DECLINED


def test_an_intake_left_silent_for_30_minutes_has_expired():
    o = engine.start(FLOW, NOW, {})
    assert o.state.expires_at == NOW + timedelta(minutes=30)
    still = answer(o.state, "同意して進む", NOW + timedelta(minutes=29))
    assert still.status == "asking"
    late = answer(still.state, "本人", NOW + timedelta(minutes=29 + 30))
    assert late.status == "expired"


def test_a_returning_user_is_offered_their_earlier_answers():
    previous = {"who": "self", "age_band": "20s", "area": "旭川市", "concern": "belonging"}
    data = {"consented_before": True, "previous": previous, "previous_summary": summary(previous)}
    o = engine.start(FLOW, NOW, data)
    assert o.state.step == "welcome_back"
    assert "本人・20代・旭川市・居場所・仲間" in o.say[0].text
    o = answer(o.state, "はい、同じです")
    assert o.state.step == "topic"
    assert o.state.data["who"] == "self" and o.state.data["area"] == "旭川市"


def test_quick_replies_respect_line_limits():
    for step in FLOW.steps:
        assert len(step.choices) <= 13
        assert all(1 <= len(c.label) <= 20 for c in step.choices)


def _flow(*steps, entry="a"):
    return Flow("t", entry, steps, timedelta(minutes=5), {}, {"invalid": "", "cancelled": "",
                                                               "restarted": "", "declined": ""})


def test_a_flow_with_a_transition_to_nowhere_is_refused_when_built():
    with pytest.raises(FlowDefinitionError, match="unknown step 'b'"):
        _flow(Step("a", "?", free_text=True, next="b"))


def test_a_flow_with_an_unreachable_step_is_refused_when_built():
    with pytest.raises(FlowDefinitionError, match="unreachable"):
        _flow(Step("a", "?", free_text=True, next=END), Step("orphan", "?", free_text=True))


def test_a_flow_with_too_many_quick_replies_is_refused_when_built():
    choices = tuple(Choice(str(i), f"選択肢{i}") for i in range(14))
    with pytest.raises(FlowDefinitionError, match="14 choices"):
        _flow(Step("a", "?", choices=choices, next=END))


def test_routing_on_a_choice_that_does_not_exist_is_refused():
    with pytest.raises(FlowDefinitionError, match="routes unknown choice"):
        _flow(Step("a", "?", choices=(Choice("y", "はい"),), next={"n": CANCEL}))
