"""The labelled set and the frozen test part: the split is what it claims, and the figures measured on
the frozen part (never used to write rules or train the model) stay above the acceptance targets."""

import collections
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("triage_eval", ROOT / "bench" / "triage_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def split_tool():
    spec = importlib.util.spec_from_file_location("make_split", ROOT / "tests" / "triage_data" / "make_split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_labelled_set_is_large_and_organised_by_family(bench):
    rows = bench.load()
    assert len(rows) >= 1500
    families = collections.Counter(r["family"] for r in rows)
    assert len(families) >= 20
    assert {r["level"] for r in rows} == {"none", "moderate", "high", "imminent"}
    assert sum(r["about_other"] == "1" for r in rows) >= 50


def test_the_test_part_is_the_frozen_hash_split_stratified_by_family(bench, split_tool):
    rows = bench.load()
    frozen = [dict(r) for r in rows if r["source"] != "dev-extra"]
    recomputed = [dict(r) for r in frozen]
    split_tool.assign(recomputed)
    assert [r["split"] for r in recomputed] == [r["split"] for r in frozen]
    assert all(r["split"] == "dev" for r in rows if r["source"] == "dev-extra")
    by_family = collections.defaultdict(collections.Counter)
    for r in frozen:
        by_family[r["family"]][r["split"]] += 1
    for family, c in by_family.items():
        assert abs(c["test"] - 0.4 * (c["test"] + c["dev"])) <= 1, family


def test_frozen_test_figures_stay_above_the_acceptance_targets(bench):
    result = bench.evaluate(bench.load(split="test"))
    assert result["n"] >= 600
    assert result["crisis_recall"] >= bench.TARGETS["crisis_recall"]
    assert result["imminent_recall"] >= bench.TARGETS["imminent_recall"]
    assert result["benign_flagged"] <= bench.TARGETS["benign_flagged"]
    assert result["exact"] >= bench.TARGETS["exact"]


def test_crisis_items_keep_their_level_when_rewritten(bench):
    result = bench.paraphrase_check(bench.load(split="test"))
    assert result["n"] >= 1000
    assert result["rate"] >= 0.95
