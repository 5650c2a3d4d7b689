"""Triage rules as specifications: crisis wording in its many spellings, and figurative speech left alone."""

import pytest

from flows.emergency import emergency_message, load_contacts
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


def test_the_emergency_message_carries_every_number_and_fits_one_line_message():
    for level in ("high", "imminent"):
        text = emergency_message(level)
        for number in ("0120-783-556", "0120-279-338", "0570-064-556", "0120-061-338", "119", "110"):
            assert number in text
        assert len(text) <= 5000
    assert emergency_message("imminent").startswith(load_contacts().intro_imminent)


def test_a_contacts_file_with_a_missing_number_is_refused(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('intro_high="a"\nintro_imminent="b"\noutro="c"\n[[contacts]]\nname="x"\nhours="24h"\n'
                   'for="y"\nsource="z"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="number"):
        load_contacts(bad)
