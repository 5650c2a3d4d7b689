"""The learned second opinion: it may raise a level, never lower one, and the shipped file is what
the build script makes from the data."""

import csv
import json
from pathlib import Path

from flows import triage, triage_model
from flows.triage import RiskLevel

DATA = Path(__file__).resolve().parent / "triage_data" / "messages.tsv"


def _model_saying(level: str) -> triage_model.Model:
    """A model that is sure of `level` whatever the text."""
    classes = ["none", "moderate", "high", "imminent"]
    return triage_model.Model({"classes": classes, "threshold": 0.5, "weights": {},
                               "intercept": [20.0 if c == level else 0.0 for c in classes]})


def test_a_model_that_sees_no_crisis_never_lowers_the_rules(monkeypatch):
    monkeypatch.setattr(triage_model, "model", lambda: _model_saying("none"))
    triage.clear_caches()
    expected = {"薬を全部飲んだ": RiskLevel.IMMINENT, "もう死にたい": RiskLevel.HIGH, "もう限界": RiskLevel.MODERATE}
    for text, level in expected.items():
        result = triage.assess(text)
        assert result.level is level
        assert triage_model.CUE not in result.cues


def test_the_second_opinion_itself_never_returns_a_lower_level():
    calm = _model_saying("none")
    for level in RiskLevel:
        assert triage_model.opinion("もう死にたい", calm) is RiskLevel.NONE
        assert triage_model.second_opinion("もう死にたい", level, model_=calm) is level


def test_a_model_that_sees_a_crisis_raises_the_level_with_its_own_cue(monkeypatch):
    text = "なんとなく薬のことを考えている"
    triage.clear_caches()
    rules_level = triage.assess_rules(text)[0]
    assert rules_level.rank < RiskLevel.IMMINENT.rank
    monkeypatch.setattr(triage_model, "model", lambda: _model_saying("imminent"))
    result = triage.assess(text)
    assert result.level is RiskLevel.IMMINENT
    assert triage_model.CUE in result.cues


def test_on_every_labelled_message_the_model_only_raises():
    with DATA.open(encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f, delimiter="\t")]
    for text in texts:
        rules_level = triage.assess_rules(text)[0]
        assert triage.assess(text).level.rank >= rules_level.rank, text


def test_the_shipped_model_is_built_from_dev_only_with_its_cross_validation():
    data = json.loads(triage_model.MODEL_PATH.read_text(encoding="utf-8"))
    cv = data["cv_on_dev"]
    assert cv["folds"] == 5 and cv["seed"] == 0
    assert 0.5 <= data["threshold"] < 1.0
    # the combination is at least as good as the rules alone on held-out folds
    assert cv["rules_plus_model"]["crisis_recall"] >= cv["rules"]["crisis_recall"]


def test_rebuilding_the_model_gives_the_same_file():
    from flows import triage_train

    data, _cv = triage_train.build(verbose=False, cross_validate=False)
    rebuilt = json.loads(triage_train.dump(data))
    shipped = json.loads(triage_model.MODEL_PATH.read_text(encoding="utf-8"))
    # The same model up to floating point: lbfgs lands a little differently on another CPU (seen: weights
    # 0.0013 apart, 277 of 33,638 beyond the file's rounding, between two machines with the same pinned
    # packages). Compared as numbers, and reported in one line (a string diff of 1.4 MB of JSON takes
    # pytest half an hour to print); then what counts: the same reading of every labelled message.
    assert rebuilt["classes"] == shipped["classes"] and rebuilt["threshold"] == shipped["threshold"]
    tolerance = 2e-3  # a fifth of the smallest weight the file keeps
    # An n-gram whose largest weight sits at the file's cutoff may fall on either side of it (seen: one
    # at exactly 0.01 in one build, below it in another); any other difference is a real one.
    only_one = [(g, w) for a, b in ((rebuilt, shipped), (shipped, rebuilt))
                for g, w in a["weights"].items() if g not in b["weights"]]
    off_cutoff = [g for g, w in only_one if max(map(abs, w)) > triage_train.KEEP_WEIGHT + tolerance]
    assert not off_cutoff and len(only_one) <= 10, f"not the same n-grams: {len(only_one)} in one file only"
    common = rebuilt["weights"].keys() & shipped["weights"].keys()
    pairs = [*zip(rebuilt["intercept"], shipped["intercept"], strict=True),
             *(ab for g in common for ab in zip(rebuilt["weights"][g], shipped["weights"][g], strict=True))]
    worst = max(abs(a - b) for a, b in pairs)
    assert worst <= tolerance, f"a weight differs by {worst}"
    with DATA.open(encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f, delimiter="\t")]
    ours, theirs = triage_model.Model(rebuilt), triage_model.Model(shipped)
    apart = 0
    for text in texts:
        a, b = ours.probabilities(text), theirs.probabilities(text)
        assert max(a, key=a.get) == max(b, key=b.get), "a labelled message read differently"
        apart = max(apart, max(abs(a[k] - b[k]) for k in a))
    assert apart <= 2e-3, f"a probability differs by {apart}"


def test_the_model_raises_only_what_the_rules_left_below_high():
    # as in training's cross-validation: a rule-based "high" is not turned into "imminent" by the model
    # (that would make the level depend on greetings and punctuation around a message)
    sure = _model_saying("imminent")
    assert triage_model.second_opinion("もう死にたい", RiskLevel.HIGH, model_=sure) is RiskLevel.HIGH
    for below in (RiskLevel.NONE, RiskLevel.MODERATE):
        assert triage_model.second_opinion("もう死にたい", below, model_=sure) is RiskLevel.IMMINENT


def test_the_second_opinion_also_reads_texts_without_any_word_of_the_lexicon(monkeypatch):
    # where the rules' vocabulary ends is where a second opinion is needed most
    text = "あっちにいきたいな"
    assert not triage.could_matter(text)
    monkeypatch.setattr(triage_model, "model", lambda: _model_saying("high"))
    triage.clear_caches()
    assert triage.assess(text).level is RiskLevel.HIGH


def test_one_word_is_too_little_for_the_model_to_raise_a_level(monkeypatch):
    monkeypatch.setattr(triage_model, "model", lambda: _model_saying("imminent"))
    triage.clear_caches()
    assert triage.assess("ありがとう🙏").level is RiskLevel.NONE
    assert triage.assess("今までのことを思い出していました").level is RiskLevel.IMMINENT


def test_a_greeting_and_a_polite_close_do_not_make_a_benign_message_a_crisis():
    # the frame of the bench's paraphrase check, which training does not use
    with DATA.open(encoding="utf-8") as f:
        benign = [r["text"] for r in csv.DictReader(f, delimiter="\t")
                  if r["split"] == "dev" and r["level"] in ("none", "moderate")]
    triage.clear_caches()
    flagged = [t for t in benign if not triage.assess(t).is_crisis
               and triage.assess(f"夜分にすみません。{t}。よろしくお願いします").is_crisis]
    assert len(flagged) <= 0.01 * len(benign), flagged[:10]
