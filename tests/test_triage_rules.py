"""Triage rules as specifications: crisis wording in its many spellings, and figurative speech left alone."""

import pytest

from flows.triage import RiskLevel, assess


@pytest.mark.parametrize("text,level", [
    ("薬を全部飲んだ", "imminent"),
    ("今までありがとう。さようなら", "imminent"),
    ("屋上にいます", "imminent"),
    ("ODしました", "imminent"),
    ("もう死にたい", "high"),
    ("ｼﾆﾀｲ", "high"),
    ("タヒにたい", "high"),
    ("しにたいいいい", "high"),
    ("し に た い", "high"),
    ("楽に死ねる方法ある？", "high"),
    ("息子が死にたいと言っている", "high"),
    ("息子に殴られています", "high"),
    ("親を殺したい", "high"),
    ("消えたい", "high"),
    ("生きてる意味がわからない", "moderate"),
    ("ﾘｽｶやめられない", "moderate"),
    ("死ぬほど眠いけど相談したい", "none"),
    ("笑い死ぬかと思った", "none"),
    ("死ぬ気で頑張る", "none"),
    ("殺人的な暑さ", "none"),
    ("祖母が去年亡くなりました", "none"),
    ("ゲームで死んだ", "none"),
    ("仕事が見つからない", "none"),
])
def test_levels(text, level):
    assert assess(text).level == RiskLevel(level)


def test_crisis_cues_explain_the_flag_for_the_counselor():
    result = assess("もう死にたい")
    assert result.is_crisis and result.cues and all(isinstance(c, str) for c in result.cues)


def test_topics_feed_routing_and_stats():
    assert "violence" in assess("父に殴られる").topics
    assert "work" in assess("仕事が見つからない").topics
