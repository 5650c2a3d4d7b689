"""Build flows/triage_model.json from the DEV part of tests/triage_data/messages.tsv.

    .venv/bin/pip install -e ".[train]"
    .venv/bin/python -m flows.triage_train          # writes flows/triage_model.json, prints CV figures
    .venv/bin/python -m flows.triage_train --check  # rebuilds in memory, compares with the shipped file

Multinomial logistic regression (scikit-learn, lbfgs, fixed seed) over binary character 1-3-grams
and lemma 1-2-grams (flows.triage_model.features), L2-normalized. Every message is also learned
inside two neutral frames (a greeting, a polite close, an emoji: `FRAMES`), with its own level, so
that such words carry no risk of their own: one crisis message that began with 夜分にすみません must
not make every message that does look like a crisis. The crisis threshold is chosen by 5-fold
cross-validation on dev (a message and its framed copies always in the same fold): the lowest
probability at which the model's extra flags on benign dev messages (none/moderate) stay within 1%.
The frozen test part is never read here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "triage_data" / "messages.tsv"
OUT = Path(__file__).with_name("triage_model.json")
CLASSES = ["none", "moderate", "high", "imminent"]
SEED = 0
MIN_DF = 2
KEEP_WEIGHT = 0.01  # an n-gram is kept in the file when one of its weights reaches this
C = 4.0
FRAMES = ["こんばんは。{}", "{}。よろしくお願いします", "すみません、{}", "あの、{}", "{}…", "はじめまして。{}", "{}😢",
          "相談です。{}", "{}。話を聞いてください", "夜遅くにごめんなさい。{}", "{}🙏", "お疲れさまです。{}"]


def framed(text: str) -> list[str]:
    """Two neutral frames around a message, chosen by the hash of its text (reproducible)."""
    h = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)
    first = h % len(FRAMES)
    second = (first + 1 + (h >> 16) % (len(FRAMES) - 1)) % len(FRAMES)
    return [FRAMES[first].format(text), FRAMES[second].format(text)]


def dev_rows() -> list[dict]:
    with DATA.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "dev"]


def _fit(texts_features: list[list[str]], labels: list[str]):  # noqa: ANN202 - sklearn types
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=lambda x: x, binary=True, use_idf=False, norm="l2", min_df=MIN_DF)
    X = vec.fit_transform(texts_features)
    clf = LogisticRegression(C=C, solver="lbfgs", random_state=SEED, max_iter=3000, tol=1e-6)
    clf.fit(X, labels)
    return vec, clf


def _export(vec, clf, threshold: float) -> dict:  # noqa: ANN001
    order = [list(clf.classes_).index(c) for c in CLASSES]
    vocab = vec.vocabulary_
    coef = clf.coef_
    weights = {}
    for gram in sorted(vocab):
        j = vocab[gram]
        row = [round(float(coef[k, j]), 4) for k in order]
        if any(abs(w) >= KEEP_WEIGHT for w in row):
            weights[gram] = row
    return {
        "about": "built by flows/triage_train.py from the dev part of tests/triage_data/messages.tsv",
        "classes": CLASSES,
        "intercept": [round(float(clf.intercept_[k]), 4) for k in order],
        "threshold": threshold,
        "weights": weights,
    }


def _probabilities(data: dict, feats: list[str]) -> dict[str, float]:
    from flows.triage_model import Model

    m = Model(data)
    # reuse the run-time arithmetic on precomputed features
    import math

    present = {g for g in feats if g in m.weights}
    scores = list(m.intercept)
    if present:
        norm = 1.0 / math.sqrt(len(present))
        for g in present:
            for k, w in enumerate(m.weights[g]):
                scores[k] += w * norm
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return {c: e / total for c, e in zip(m.classes, exps, strict=True)}


def build(verbose: bool = True, cross_validate: bool = True) -> tuple[dict, dict]:
    """The model file's content. Without cross-validation (quick rebuild check) the threshold and CV
    figures are taken from the shipped file and only the final fit is redone."""
    from sklearn.model_selection import StratifiedKFold

    from flows import triage
    from flows.triage_model import enough_words, features

    rows = dev_rows()
    feats = [features(r["text"]) for r in rows]
    labels = [r["level"] for r in rows]
    frame_feats = [[features(t) for t in framed(r["text"])] for r in rows]

    def with_frames(idx) -> tuple[list[list[str]], list[str]]:  # noqa: ANN001
        xs, ys = [], []
        for i in idx:
            xs += [feats[i], *frame_feats[i]]
            ys += [labels[i]] * (1 + len(frame_feats[i]))
        return xs, ys

    if not cross_validate:
        shipped = json.loads(OUT.read_text(encoding="utf-8"))
        vec, clf = _fit(*with_frames(range(len(rows))))
        data = _export(vec, clf, shipped["threshold"])
        data["cv_on_dev"] = shipped["cv_on_dev"]
        return data, shipped["cv_on_dev"]
    rule_levels = [triage.assess_rules(r["text"])[0].value for r in rows]
    crisis = {"high", "imminent"}

    # out-of-fold crisis probabilities
    oof: list[dict[str, float]] = [{} for _ in rows]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for train_idx, test_idx in folds.split(feats, labels):
        vec, clf = _fit(*with_frames(train_idx))
        data = _export(vec, clf, 1.0)
        for i in test_idx:
            oof[i] = _probabilities(data, feats[i])
    p_crisis = [p["high"] + p["imminent"] for p in oof]
    benign = [i for i, g in enumerate(labels) if g not in crisis]
    threshold = 0.99
    wordy = [enough_words(r["text"]) for r in rows]
    for t in [x / 100 for x in range(50, 100)]:
        extra = sum(p_crisis[i] >= t and rule_levels[i] not in crisis and wordy[i] for i in benign)
        if extra <= 0.01 * len(benign):
            threshold = t
            break

    def figures(pred: list[str]) -> dict[str, float]:
        c = [i for i, g in enumerate(labels) if g in crisis]
        im = [i for i, g in enumerate(labels) if g == "imminent"]
        return {
            "crisis_recall": round(sum(pred[i] in crisis for i in c) / len(c), 3),
            "imminent_recall": round(sum(pred[i] == "imminent" for i in im) / len(im), 3),
            "benign_flagged": round(sum(pred[i] in crisis for i in benign) / len(benign), 3),
            "exact": round(sum(p == g for p, g in zip(pred, labels, strict=True)) / len(labels), 3),
        }

    model_alone = [max(p, key=p.get) for p in oof]
    combined = []
    for i, rl in enumerate(rule_levels):
        level = rl
        if p_crisis[i] >= threshold and rl not in crisis and enough_words(rows[i]["text"]):
            level = "imminent" if oof[i]["imminent"] > oof[i]["high"] else "high"
        combined.append(level)
    cv = {"model_alone": figures(model_alone), "rules": figures(rule_levels), "rules_plus_model": figures(combined),
          "threshold": threshold, "folds": 5, "seed": SEED}
    vec, clf = _fit(*with_frames(range(len(rows))))
    data = _export(vec, clf, threshold)
    data["cv_on_dev"] = cv
    if verbose:
        print(json.dumps(cv, ensure_ascii=False, indent=1))
        print(f"{len(data['weights'])} weights kept")
    return data, cv


def dump(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="rebuild in memory and compare with the shipped file")
    args = parser.parse_args()
    data, _cv = build()
    text = dump(data)
    if args.check:
        same = OUT.read_text(encoding="utf-8") == text
        print("identical to the shipped model" if same else "DIFFERS from the shipped model")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
