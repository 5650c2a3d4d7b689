"""Concepts added for phrasing the rules had not seen (tests/triage_data/src/dev_extra13-14): each is a
frame around a concept, checked here on sentences of its own, and the held-out file stays out of the
labelled set."""

import csv
from pathlib import Path

import pytest

from flows import triage
from flows.triage import RiskLevel

DATA = Path(__file__).resolve().parent / "triage_data"


def rules_level(text: str) -> RiskLevel:
    triage.clear_caches()
    return triage.assess_rules(text)[0]


@pytest.mark.parametrize("text", ["死にたいって思わない日はない", "消えたくないわけじゃない", "死にたくない、とは言い切れない",
                                  "死ぬ気はないって言ったけど、嘘です"])
def test_a_negation_that_is_itself_negated_leaves_the_wish(text):
    assert rules_level(text) is RiskLevel.HIGH


@pytest.mark.parametrize("text", ["死にたい気持ちは今はないです", "消えたい気持ちはもうありません", "死にたいわけじゃないです"])
def test_a_wish_named_and_denied_is_not_a_crisis(text):
    assert rules_level(text) is RiskLevel.NONE


@pytest.mark.parametrize("text", ["飛び降りるならどこがいいかな", "首を切れば確実かな", "通過電車に吸い込まれそうになる"])
def test_choosing_a_way_or_being_drawn_to_a_place_is_high(text):
    assert rules_level(text) is RiskLevel.HIGH


@pytest.mark.parametrize("text", ["駅のホームの端、次の快速で", "歩道橋の欄干に座って、道路を見てる", "母にありがとうって伝えて。今までごめん"])
def test_acts_under_way_read_through_a_comma_or_a_relayed_message_are_imminent(text):
    assert rules_level(text) is RiskLevel.IMMINENT


@pytest.mark.parametrize("text", ["ビタミンのサプリを一気に飲んだ", "湯船にお湯をためて、ゆっくりつかった", "バンジージャンプ飛んでみたい",
                                  "包丁でキャベツを切った", "次の電車で帰ります", "罰ゲームで歌うことになった"])
def test_hard_negatives_stay_below_crisis(text):
    assert not rules_level(text).rank >= RiskLevel.HIGH.rank


def test_an_overdose_told_the_next_day_is_high_not_imminent():
    assert rules_level("昨日、睡眠薬を全部飲んだ") is RiskLevel.HIGH
    assert rules_level("さっき睡眠薬を全部飲んだ") is RiskLevel.IMMINENT


def test_the_held_out_messages_are_not_in_the_labelled_set():
    with (DATA / "messages.tsv").open(encoding="utf-8") as f:
        labelled = {r["text"] for r in csv.DictReader(f, delimiter="\t")}
    held = [line.split("|", 1)[1].strip() for path in (DATA / "src").glob("*.held")
            for line in path.read_text(encoding="utf-8").splitlines() if "|" in line and not line.startswith("## ")]
    assert held
    assert not labelled & set(held)
