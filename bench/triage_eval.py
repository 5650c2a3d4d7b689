"""Triage accuracy and speed on a labelled set (default: tests/triage_data/eval_set.tsv).

    .venv/bin/python bench/triage_eval.py [--file other.tsv] [--seconds 2]

Prints precision and recall per level, crisis recall (high+imminent items flagged high or imminent),
imminent recall, false alarms on `none` items (flagged high or imminent), the confusion matrix, and
messages per second on one core.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.triage import assess  # noqa: E402

LEVELS = ["none", "moderate", "high", "imminent"]
CRISIS = {"high", "imminent"}


def load(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [(row["level"].strip(), row["text"]) for row in csv.DictReader(f, delimiter="\t")
                if row.get("text")]


def evaluate(items: list[tuple[str, str]]) -> dict[str, float]:
    pairs = [(gold, assess(text).level.value) for gold, text in items]
    crisis = [p for g, p in pairs if g in CRISIS]
    imminent = [p for g, p in pairs if g == "imminent"]
    benign = [p for g, p in pairs if g == "none"]
    return {
        "crisis_recall": sum(p in CRISIS for p in crisis) / max(len(crisis), 1),
        "imminent_recall": sum(p == "imminent" for p in imminent) / max(len(imminent), 1),
        "false_alarm_rate": sum(p in CRISIS for p in benign) / max(len(benign), 1),
        "pairs": pairs,  # type: ignore[dict-item]
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "triage_data" / "eval_set.tsv")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    items = load(args.file)
    result = evaluate(items)
    pairs = result["pairs"]
    confusion = Counter(pairs)
    print(f"{len(items)} messages from {args.file.name}: " +
          ", ".join(f"{lv} {sum(g == lv for g, _ in pairs)}" for lv in LEVELS))
    print(f"{'level':<10}{'precision':>10}{'recall':>8}")
    for lv in LEVELS:
        tp = confusion[(lv, lv)]
        predicted = sum(n for (g, p), n in confusion.items() if p == lv)
        actual = sum(n for (g, p), n in confusion.items() if g == lv)
        print(f"{lv:<10}{tp / predicted if predicted else 0:>10.3f}{tp / actual if actual else 0:>8.3f}")
    print(f"crisis recall      {result['crisis_recall']:.3f}")
    print(f"imminent recall    {result['imminent_recall']:.3f}")
    print(f"false alarms       {result['false_alarm_rate']:.3f} (none items flagged high/imminent)")
    print("confusion (rows gold, columns predicted): " + " ".join(LEVELS))
    for g in LEVELS:
        print(f"  {g:<9} " + " ".join(f"{confusion[(g, p)]:>5}" for p in LEVELS))
    texts = [t for _, t in items]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for t in texts:
            assess(t)
        done += len(texts)
    print(f"speed              {done / (time.perf_counter() - started):,.0f} messages/second (one core)")
    for g, t in items:
        p = assess(t).level.value
        if (g in CRISIS) != (p in CRISIS) or (g == "imminent") != (p == "imminent"):
            print(f"  miss: gold={g} got={p}: {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
