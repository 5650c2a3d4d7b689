"""How triage reads meaning: modalities (wished / done / negated / figurative), the scope of a
figurative or hobby word, combinations of concepts, the person at risk, and normalization."""

import csv
from pathlib import Path

import pytest

from flows import triage
from flows.triage import RiskLevel, assess, concept_tags, normalize

DATA = Path(__file__).resolve().parent / "triage_data" / "messages.tsv"


@pytest.mark.parametrize("text,level", [
    # figurative death words are not ideation…
    ("死ぬほど眠い", "none"),
    ("寒すぎて死ぬ", "none"),
    ("笑い死ぬかと思った", "none"),
    ("死ぬ気で頑張る", "none"),
    ("ゲームで死んだ", "none"),
    # …but a real wish next to a hobby or news word is
    ("ゲームしてても死にたい", "high"),
    ("ニュース見てて自殺しようと思った", "high"),
    ("漫画読んでても、もう消えたい", "high"),
])
def test_figurative_handling_works_on_tokens_and_scope(text, level):
    assert assess(text).level == RiskLevel(level)


@pytest.mark.parametrize("text,level", [
    ("死にたいわけじゃないけど、ちょっと疲れた", "none"),
    ("死にたいとは思ってません、安心してください", "none"),
    ("死ぬつもりはないよ、ただ話したいだけ", "none"),
    ("リスカはもうやめて2年経ちました", "none"),
    ("昔は死にたいと思ってたけど、今は大丈夫です", "none"),
    # a negated wish to live is ideation; a wish after a negated one still counts
    ("もう生きていたくない", "high"),
    ("死にたくないって思おうとしてるけど、やっぱり死にたい", "high"),
])
def test_negation_has_scope(text, level):
    assert assess(text).level == RiskLevel(level)


def test_the_same_concept_with_other_modalities_gives_other_levels():
    # means + act done -> imminent; wished -> high; taken as prescribed -> none
    assert assess("睡眠薬を全部飲んだ").level is RiskLevel.IMMINENT
    assert assess("睡眠薬を全部飲みたい").level is RiskLevel.HIGH
    assert assess("睡眠薬を処方してもらいました").level is RiskLevel.NONE
    # harm to a family member: feared -> high; received -> high; harmless -> none
    assert assess("母を傷つけてしまいそうで怖い").level is RiskLevel.HIGH
    assert assess("父に殴られて痣ができた").level is RiskLevel.HIGH
    assert assess("父に手紙を書いた").level is RiskLevel.NONE
    # harm to another + そう/たい is high even without a family word (by the rules themselves)
    assert triage.assess_rules("人を殺してしまいそうで怖い")[0] is RiskLevel.HIGH


def test_modalities_come_from_the_words_after_the_concept():
    assert "die:wish" in concept_tags("死にたい")
    assert "die:intent" in concept_tags("もう死のうかな")
    assert "die:neg" in concept_tags("死ぬつもりはない")
    assert "die:fig" in concept_tags("眠すぎて死ぬ")  # token level: a cause before it
    assert "die:fig" in concept_tags("死にそう")
    assert "die" not in concept_tags("死ぬほど笑った")  # a set figurative phrase is blanked before analysis
    assert "ingest:done" in concept_tags("薬を飲みました")
    assert "hurt:seem" in concept_tags("兄を殴ってしまいそう")


def test_conjugations_and_spellings_fold_onto_one_lemma():
    for text in ("薬を全部のんだ", "くすりぜんぶのんだ", "ｸｽﾘ ｾﾞﾝﾌﾞ ﾉﾝﾀﾞ", "薬を全部飲みました"):
        assert assess(text).level is RiskLevel.IMMINENT, text


def test_normalization_prepass_maps_slang_and_spacing():
    assert "死にたい" in normalize("タヒにたい")
    assert "死にたい" in normalize("し に た い")
    assert "死にたい" in normalize("ｼﾆﾀｲ")
    assert normalize("しにたいいいい").startswith("死にたい")


@pytest.mark.parametrize("text,level", [
    ("娘が「もう生きていたくない」と泣いている", "high"),
    ("息子が死にたいと言っている", "high"),
    ("息子が薬をたくさん飲んで意識がありません", "imminent"),
    ("夫が遺書のような手紙を残していなくなった", "imminent"),
])
def test_a_crisis_reported_by_a_family_member_is_about_someone_else(text, level):
    result = assess(text)
    assert result.level == RiskLevel(level)
    assert result.about_other is True


@pytest.mark.parametrize("text", ["もう死にたい", "父に殴られています", "息子に殴られます", "母を殺してしまいそう"])
def test_the_writer_at_risk_is_not_about_someone_else(text):
    result = assess(text)
    assert result.is_crisis and result.about_other is False


def test_a_benign_message_from_a_parent_is_not_flagged():
    result = assess("息子が10年ひきこもっています。どう接したらいいですか")
    assert result.level is RiskLevel.NONE and not result.is_crisis


def test_every_crisis_carries_a_cue_the_counselor_can_read():
    result = assess("橋の上にいる。もう飛び降りる")
    assert result.is_crisis and result.cues and all(isinstance(c, str) and c for c in result.cues)


def test_the_beginnings_of_a_pattern_are_known_only_when_a_match_must_begin_with_them():
    assert triage._prefixes("(?:手すり|柵)の外") == {"手す", "柵の"}
    assert triage._prefixes("^今") == {"今"}
    assert triage._prefixes("[1-3]錠") == {"1錠", "2錠", "3錠"}
    assert triage._prefixes("(?:が|を)?あり") == {"があ", "をあ", "あり"}
    assert triage._prefixes("(?:今|)夜") == {"今夜", "夜"}
    assert triage._prefixes("(?<![手足])首") == {"首"}
    assert triage._prefixes(".{0,3}時間") is None  # may begin with anything
    assert triage._prefixes("(?:が)?") is None  # may match nothing


def _every_phrase(index):
    return lambda grams: [*index.always, *(item for items in index.by_start.values() for item in items)]


def test_looking_only_for_phrases_whose_beginnings_are_in_the_text_never_changes_a_result(monkeypatch):
    lex = triage.lexicon()
    with DATA.open(encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f, delimiter="\t")]
    indexed = [(triage.could_matter(t), triage.concept_tags(t)) for t in texts]
    monkeypatch.setattr(lex.phrases, "candidates", _every_phrase(lex.phrases))
    monkeypatch.setattr(lex.prefilter, "candidates", _every_phrase(lex.prefilter))
    triage.clear_caches()
    assert [(triage.could_matter(t), triage.concept_tags(t)) for t in texts] == indexed


def test_a_text_without_any_lexicon_word_skips_the_analyzer():
    assert triage.could_matter("こんにちは、はじめまして") is False
    assert triage.could_matter("もう死にたい") is True
    assert assess("こんにちは、はじめまして").level is RiskLevel.NONE


def test_a_normalized_form_that_shares_no_kanji_with_the_word_is_not_added():
    # 殺る is normalized to 遣る by the analyzer: it must not make every やる a threat to the family
    assert assess("母の手伝いをやる").level is RiskLevel.NONE
    assert "hurt" not in concept_tags("母の手伝いをやる")
    assert assess("父を殺してやる").level is RiskLevel.HIGH


def test_a_family_member_unconscious_or_drinking_is_a_crisis_only_with_means():
    assert assess("母が倒れて入院しました").level is RiskLevel.NONE
    assert assess("息子がお酒を飲んだ").level is RiskLevel.NONE
    assert assess("父が薬を飲みました").level is RiskLevel.NONE
    assert assess("息子が薬を大量に飲んで意識がありません").level is RiskLevel.IMMINENT


def test_looking_for_a_place_is_a_crisis_only_with_a_lethal_aim():
    assert assess("マンションを探してる").level is RiskLevel.NONE
    assert triage.assess_rules("どのビルなら確実に死ねるか調べてる")[0] is RiskLevel.HIGH


def test_overlapping_phrases_of_one_concept_both_count():
    # 火を腕 (a burn) and 腕に押しつけてる (the act, under way) overlap on 腕
    assert "cut:prog" in concept_tags("タバコの火を腕に押しつけてる、今")
    assert assess("タバコの火を腕に押しつけてる、今").level is RiskLevel.IMMINENT


def test_a_word_the_analyzer_splits_is_found_as_a_phrase():
    assert "gas" in concept_tags("硫化水素の作り方を調べてる")


@pytest.mark.parametrize("text,level", [
    # by the rules alone (the learned second opinion would hide a rule that stopped working)
    ("父を殴ったら動かなくなった", "imminent"),  # a たら clause followed by what happened
    ("車の中で練炭をたいてる", "imminent"),  # charcoal lit
    ("今からﾄﾋﾞｵﾘﾙ", "imminent"),  # half-width katakana after a slang word is kana
    ("夫が帰ってこない、連絡もない", "high"),
    ("夫が仕事から帰ってこない、残業かな", "none"),  # an ordinary reason for being late
])
def test_rules_alone(text, level):
    assert triage.assess_rules(text)[0] is RiskLevel(level)


def test_a_tara_clause_followed_by_a_past_one_is_what_happened_not_a_supposition():
    assert {"hurt:done"} <= concept_tags("父を殴ったら動かなくなった")
    assert "hurt:cond" not in concept_tags("父を殴ったら動かなくなった")
    assert "jump:cond" in concept_tags("屋上から落ちたら楽になれるのかな")
