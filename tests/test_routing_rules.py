"""Issue 10: the routing decision as a plain function — rules in order, members in order, and why each
member could not take the consultation."""

import pytest

from flows.routing import Answers, Decision, Member, decide, member_takes, rule_matches

RULES = [
    ("ご家族", {"who": ["family"]}, ["kazokukai", "center"]),
    ("仕事", {"who": ["self"], "age_bands": ["10s", "20s", "30s", "40s"], "concerns": ["work"]}, ["saposute"]),
    ("仕事の話題", {"who": ["self"], "topics": ["work"]}, ["saposute", "center"]),
    ("旭川の居場所", {"areas": ["旭川市"], "concerns": ["belonging"]}, ["hidamari", "ghost", "center"]),
]


def members(**changes):
    base = {
        "kazokukai": Member(1, "kazokukai", True, {"who": ["family"]}, True, 4, 0),
        "saposute": Member(2, "saposute", True, {"who": ["self"], "age_bands": ["10s", "20s", "30s", "40s"]}, True,
                           2, 0),
        "hidamari": Member(3, "hidamari", True, {}, True, 3, 0),
        "center": Member(4, "center", True, {}, True, None, 40),  # no capacity given: never full
    }
    for slug, fields in changes.items():
        m = base[slug]
        base[slug] = Member(m.id, slug, fields.get("active", m.active), fields.get("takes", m.takes),
                            fields.get("staffed", m.staffed), fields.get("capacity", m.capacity),
                            fields.get("holding", m.holding))
    return base


@pytest.mark.parametrize("answers,changes,expected", [
    (Answers("family", "40s", "札幌市", "family"), {}, Decision(1, "rule_matched", "ご家族", (
        {"slug": "kazokukai", "outcome": "taken"},))),
    (Answers("family", "40s", "札幌市", "family"), {"kazokukai": {"staffed": False}},
     Decision(4, "rule_matched", "ご家族", ({"slug": "kazokukai", "outcome": "not_staffed"},
                                            {"slug": "center", "outcome": "taken"}))),
    (Answers("family", "40s", "札幌市", "family"), {"kazokukai": {"active": False}, "center": {"staffed": False}},
     Decision(None, "none_available", "ご家族", ({"slug": "kazokukai", "outcome": "inactive"},
                                                 {"slug": "center", "outcome": "not_staffed"}))),
    (Answers("self", "20s", None, "work"), {"saposute": {"holding": 2}}, Decision(None, "none_available", "仕事", (
        {"slug": "saposute", "outcome": "full"},))),
    # 50代: rule 2 does not match; the topic rule does, but the サポステ member takes 15-49 only.
    (Answers("self", "50plus", None, "work", ("work",)), {}, Decision(4, "rule_matched", "仕事の話題", (
        {"slug": "saposute", "outcome": "does_not_take"}, {"slug": "center", "outcome": "taken"}))),
    (Answers("self", "30s", "旭川市", "belonging"), {"hidamari": {"staffed": False}},
     Decision(4, "rule_matched", "旭川の居場所", ({"slug": "hidamari", "outcome": "not_staffed"},
                                                  {"slug": "ghost", "outcome": "missing"},
                                                  {"slug": "center", "outcome": "taken"}))),
    (Answers("self", "30s", "函館市", "belonging"), {}, Decision(None, "no_rule")),
    (Answers(None, None, None, None, ("work",)), {}, Decision(None, "no_rule")),  # a crisis before any answer
])
def test_the_first_matching_rule_and_its_first_member_able_to_take_it(answers, changes, expected):
    assert decide(answers, RULES, members(**changes)) == expected


def test_every_condition_of_a_rule_must_hold_and_a_list_matches_any_value():
    when = {"who": ["self", "other"], "concerns": ["work"], "topics": ["work", "money"]}
    assert rule_matches(when, Answers("other", "20s", None, "work", ("money",)))
    assert not rule_matches(when, Answers("other", "20s", None, "work", ("family",)))
    assert not rule_matches(when, Answers("family", "20s", None, "work", ("work",)))
    assert rule_matches({}, Answers())  # no conditions: anyone


def test_empty_takes_means_anyone():
    assert member_takes({}, Answers("family", "50plus", "その他の地域", "money"))
    assert member_takes({"who": []}, Answers("family"))
    assert not member_takes({"age_bands": ["20s"]}, Answers("self", "no_answer"))
