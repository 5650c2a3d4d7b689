"""The learned second opinion: a linear model over character and word n-grams, read from
`flows/triage_model.json` (built by `python -m flows.triage_train` from the dev part of the labelled
set; scikit-learn is needed only to build it). Inference is plain Python: a dictionary lookup per
n-gram and a dot product, no pickle.

It may RAISE the rule-based level, never lower it: when the rules see no crisis (none/moderate) and
the model gives the crisis levels (high + imminent) a probability above the threshold chosen by
cross-validation on dev, the level becomes high (imminent when the model's most likely level is
imminent). A level the rules already rate high is left to the rules. It looks at every message the
rules leave below high, including those without any word of the lexicon.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from flows import triage

MODEL_PATH = Path(__file__).with_name("triage_model.json")
CUE = "学習モデルの判定（言い回しが危機の例に近い）"


def features(text: str) -> list[str]:
    """Character 1-3-grams of the normalized text (katakana folded) and word 1-2-grams of its lemmas."""
    t = triage._fold(triage.normalize(text))
    t = "".join(ch for ch in t if not ch.isspace())
    grams = [f"c:{t[i:i + n]}" for n in (1, 2, 3) for i in range(len(t) - n + 1)]
    lemmas = [tok.lemma for tok in triage.tokenize(triage.normalize(text)) if tok.pos not in ("補助記号", "空白")]
    grams += [f"w:{w}" for w in lemmas]
    grams += [f"w:{a}_{b}" for a, b in zip(lemmas, lemmas[1:], strict=False)]
    return grams


class Model:
    def __init__(self, data: dict) -> None:
        self.classes: list[str] = data["classes"]
        self.intercept: list[float] = data["intercept"]
        self.weights: dict[str, list[float]] = data["weights"]
        self.threshold: float = data["threshold"]
        # the weights by kind, without the "c:"/"w:" prefix: the n-grams of a text are looked up as they
        # are cut, with no string built per n-gram
        self._chars = {g[2:]: w for g, w in self.weights.items() if g.startswith("c:")}
        self._words = {g[2:]: w for g, w in self.weights.items() if g.startswith("w:")}
        # Each text is read twice, by the webhook (which sends a crisis to the crisis lane) and by the
        # consultation flow: the second time is a lookup. Bounded; kept per model, so a test's model never
        # sees another's results.
        self._seen: dict[str, dict[str, float]] = {}

    def forget(self) -> None:
        self._seen.clear()

    def probabilities(self, text: str) -> dict[str, float]:
        seen = self._seen.get(text)
        if seen is None:
            if len(self._seen) >= 4096:
                self._seen.clear()
            seen = self._seen[text] = self._probabilities(text)
        return seen

    def _probabilities(self, text: str) -> dict[str, float]:
        """The same features as `features` (binary, L2-normalized, as in training), computed faster."""
        t = "".join(triage._fold(triage.normalize(text)).split())
        grams = {*t, *map(str.__add__, t, t[1:]), *map("".join, zip(t, t[1:], t[2:], strict=False))}
        chars = grams & self._chars.keys()
        lemmas = [tok.lemma for tok in triage.tokenize(triage.normalize(text)) if tok.pos not in ("補助記号", "空白")]
        words = ({*lemmas} | {f"{a}_{b}" for a, b in zip(lemmas, lemmas[1:], strict=False)}) & self._words.keys()
        rows = [*map(self._chars.__getitem__, chars), *map(self._words.__getitem__, words)]
        n = len(rows)
        sums = [*map(sum, zip(*rows, strict=True))] if rows else [0.0] * len(self.intercept)  # column sums, in C
        norm = 1.0 / math.sqrt(n) if n else 0.0
        scores = [b + norm * x for b, x in zip(self.intercept, sums, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}


@functools.cache
def model() -> Model | None:
    if not MODEL_PATH.exists():
        return None
    return Model(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def opinion(text: str, model_: Model | None = None) -> triage.RiskLevel:
    """The level the model alone would give: high/imminent when crisis is likely, else none."""
    m = model_ or model()
    if m is None:
        return triage.RiskLevel.NONE
    p = m.probabilities(text)
    if p.get("high", 0.0) + p.get("imminent", 0.0) < m.threshold:
        return triage.RiskLevel.NONE
    return triage.RiskLevel.IMMINENT if p.get("imminent", 0.0) > p.get("high", 0.0) else triage.RiskLevel.HIGH


def enough_words(text: str) -> bool:
    """At least two content words: one word alone (ありがとう🙏) is too little for an n-gram model to raise
    a level on; the rules read those."""
    tokens = triage.tokenize(triage.normalize(text))
    return sum(t.pos not in ("補助記号", "空白", "助詞", "助動詞") for t in tokens) >= 2


def second_opinion(text: str, level: triage.RiskLevel, model_: Model | None = None) -> triage.RiskLevel:
    """The rule level, raised when the model sees a crisis; never lower than `level`. Every text the
    rules leave below high is looked at, those the rules' pre-filter skipped included (words the lexicon
    lacks are where a second opinion is needed most), as in its cross-validation."""
    if level.rank >= triage.RiskLevel.HIGH.rank or not enough_words(text):
        # as in training (flows/triage_train.py): the model flags crises the rules missed; it does not
        # turn a rule-based "high" into "imminent" (that needs an act, a time or a place the rules read)
        return level
    suggested = opinion(text, model_)
    return suggested if suggested.rank > level.rank else level
