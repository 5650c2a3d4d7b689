"""Triage accuracy, robustness and speed on the labelled set (tests/triage_data/messages.tsv).

    .venv/bin/python bench/triage_eval.py [--split test|dev|all|none] [--seconds 3] [--misses] [--rules-only]

Prints, separately for the frozen test part and for the dev part: crisis recall (high/imminent items
flagged high or imminent), imminent recall, benign (none/moderate) items flagged high/imminent,
exact agreement, per level and per family; the paraphrase check (every crisis item rewritten
automatically must keep its level); and speed in messages/second on one core.

The test part is never used to write rules or train the model: it is only reported here.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows import triage  # noqa: E402
from flows.triage import assess  # noqa: E402

DATA = ROOT / "tests" / "triage_data" / "messages.tsv"
LEVELS = ["none", "moderate", "high", "imminent"]
CRISIS = {"high", "imminent"}
TARGETS = {"crisis_recall": 0.95, "imminent_recall": 0.85, "benign_flagged": 0.05, "exact": 0.75}


def load(path: Path = DATA, split: str = "all") -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if split == "all" or r["split"] == split]


def figures(pairs: list[tuple[str, str]]) -> dict[str, float]:
    crisis = [p for g, p in pairs if g in CRISIS]
    imminent = [p for g, p in pairs if g == "imminent"]
    benign = [p for g, p in pairs if g not in CRISIS]
    return {
        "n": len(pairs),
        "crisis_recall": sum(p in CRISIS for p in crisis) / len(crisis) if crisis else 1.0,
        "imminent_recall": sum(p == "imminent" for p in imminent) / len(imminent) if imminent else 1.0,
        "benign_flagged": sum(p in CRISIS for p in benign) / len(benign) if benign else 0.0,
        "exact": sum(g == p for g, p in pairs) / len(pairs) if pairs else 1.0,
        "n_crisis": len(crisis), "n_imminent": len(imminent), "n_benign": len(benign),
    }


def evaluate(rows: list[dict], assess_fn=assess) -> dict:
    pairs = [(r["level"], assess_fn(r["text"]).level.value) for r in rows]
    result = figures(pairs)
    result["pairs"] = pairs
    by_family: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r, pair in zip(rows, pairs, strict=True):
        by_family[r["family"]].append(pair)
    result["families"] = {f: figures(p) for f, p in sorted(by_family.items())}
    other = [r for r in rows if r["about_other"] == "1" and r["level"] in CRISIS]
    result["about_other_recall"] = (sum(assess_fn(r["text"]).about_other for r in other) / len(other)) if other else 1.0
    return result


# ------------------------------------------------------------------------------------------------
# Paraphrase check: automatic rewrites of each crisis message that must keep its level.

# (ending, polite form): plain endings rewritten as です/ます or explanatory んです
_POLITE = [("てる", "ています"), ("でる", "でいます"), ("たい", "たいです"), ("いる", "います"), ("した", "しました"),
           ("する", "します"), ("ない", "ないです"), ("飲んだ", "飲みました"), ("た", "たんです"), ("だ", "だんです"),
           ("る", "るんです"), ("う", "うんです")]
_KANA = [("死に", "しに"), ("死ぬ", "しぬ"), ("死ん", "しん"), ("消え", "きえ"), ("薬", "くすり"), ("全部", "ぜんぶ"),
         ("今から", "いまから"), ("自殺", "じさつ")]
_SLANG = [("死に", "タヒに"), ("死に", "氏に"), ("たい", "たーい"), ("たい", "てえ")]
_JA_PAIR = re.compile(r"(?<=[^\x00-\x7f])(?=[^\x00-\x7f])")


def _to_halfwidth_katakana(text: str) -> str:
    out = []
    for ch in text:
        if "ァ" <= ch <= "ヶ":
            # NFKC maps half-width back to these; build the half-width form via the compatibility table
            out.append(_HALF.get(ch, ch))
        else:
            out.append(ch)
    return "".join(out)


_HALF: dict[str, str] = {}
for code in range(0xFF61, 0xFF9F + 1):
    full = unicodedata.normalize("NFKC", chr(code))
    if len(full) == 1:
        _HALF.setdefault(full, chr(code))


def paraphrases(text: str) -> list[tuple[str, str]]:
    """(kind, rewritten text) pairs, each a meaning-preserving rewrite."""
    out: list[tuple[str, str]] = []
    stripped = text.rstrip("。．.！!…")
    if not re.search(r"(?:ます|です|ました|でした|ません)$", stripped):
        for ending, polite in _POLITE:
            if stripped.endswith(ending):
                out.append(("politeness", stripped[: -len(ending)] + polite + "。"))
                break
    for kanji, kana in _KANA:
        if kanji in text:
            out.append(("kana", text.replace(kanji, kana)))
            break
    out.append(("spacing", _JA_PAIR.sub(" ", text)))
    out.append(("punctuation", text.replace("、", " ").replace("。", "…") + "…"))
    for a, b in _SLANG:
        if a in text:
            out.append(("slang", text.replace(a, b, 1)))
            break
    if re.search(r"[ァ-ヶ]", text):
        out.append(("halfwidth", _to_halfwidth_katakana(text)))
    out.append(("emoji", text + "😢"))
    out.append(("context", "夜分にすみません。" + text + "。よろしくお願いします"))
    return out


def paraphrase_check(rows: list[dict], assess_fn=assess) -> dict:
    kept: Counter[str] = Counter()
    total: Counter[str] = Counter()
    failures: list[tuple[str, str, str, str]] = []
    for r in rows:
        if r["level"] not in CRISIS:
            continue
        base = assess_fn(r["text"]).level.value
        if base != r["level"]:
            continue  # only items the system already gets right: the rewrite must not change them
        for kind, text in paraphrases(r["text"]):
            total[kind] += 1
            got = assess_fn(text).level.value
            if got == base:
                kept[kind] += 1
            else:
                failures.append((kind, base, got, text))
    n = sum(total.values())
    return {"rate": sum(kept.values()) / n if n else 1.0, "n": n, "kinds": {k: (kept[k], total[k]) for k in total},
            "failures": failures}


# ------------------------------------------------------------------------------------------------

def speed(texts: list[str], seconds: float, fn) -> float:
    """Messages per second of CPU time of this process (one core; less skewed by other processes
    sharing the machine than wall time, though a busy machine still slows it)."""
    done, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        for t in texts:
            fn(t)
        done += len(texts)
    return done / (time.process_time() - started)


def cold_speed(texts: list[str], fn, rounds: int = 5) -> float:
    """Messages per second over distinct texts, each assessed once per round, starting every round
    from an empty word cache as well (a fresh process): no repeat of a text or a word is free. The
    median of `rounds`."""
    figures = []
    for _ in range(rounds):
        triage.clear_caches(vocabulary=True)
        started = time.process_time()
        for t in texts:
            fn(t)
        figures.append(len(texts) / (time.process_time() - started))
    return sorted(figures)[len(figures) // 2]


def report(name: str, rows: list[dict], assess_fn, misses: bool) -> dict:
    result = evaluate(rows, assess_fn)
    pairs = result["pairs"]
    confusion = Counter(pairs)
    print(f"\n=== {name}: {len(rows)} messages (" +
          ", ".join(f"{lv} {sum(g == lv for g, _ in pairs)}" for lv in LEVELS) + ")")
    for key, target in TARGETS.items():
        ok = result[key] <= target if key == "benign_flagged" else result[key] >= target
        print(f"  {key:<16}{result[key]:.3f}   target {'<=' if key == 'benign_flagged' else '>='} {target}"
              f"   {'ok' if ok else 'BELOW TARGET'}")
    print(f"  about_other recall (crisis reported by a family member) {result['about_other_recall']:.3f}")
    print(f"  {'level':<10}{'n':>5}{'precision':>10}{'recall':>8}")
    for lv in LEVELS:
        tp = confusion[(lv, lv)]
        predicted = sum(n for (g, p), n in confusion.items() if p == lv)
        actual = sum(n for (g, p), n in confusion.items() if g == lv)
        print(f"  {lv:<10}{actual:>5}{tp / predicted if predicted else 0:>10.3f}{tp / actual if actual else 0:>8.3f}")
    print("  confusion (rows gold, columns predicted): " + " ".join(LEVELS))
    for g in LEVELS:
        print(f"    {g:<9} " + " ".join(f"{confusion[(g, p)]:>5}" for p in LEVELS))
    print(f"  {'family':<20}{'n':>4}{'crisis_rec':>11}{'immin_rec':>10}{'benign_fl':>10}{'exact':>7}")
    for fam, f in result["families"].items():
        cr = f"{f['crisis_recall']:.2f}" if f["n_crisis"] else "-"
        ir = f"{f['imminent_recall']:.2f}" if f["n_imminent"] else "-"
        bf = f"{f['benign_flagged']:.2f}" if f["n_benign"] else "-"
        print(f"  {fam:<20}{f['n']:>4}{cr:>11}{ir:>10}{bf:>10}{f['exact']:>7.2f}")
    if misses:
        for r, (g, p) in zip(rows, pairs, strict=True):
            if g != p:
                print(f"    miss [{r['family']}] gold={g} got={p}: {r['text']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["test", "dev", "both", "all", "none"], default="both",
                        help="the part to report on; none: speed only")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--misses", action="store_true", help="list the disagreements (never use it on test to tune)")
    parser.add_argument("--rules-only", action="store_true", help="without the learned second opinion")
    args = parser.parse_args()
    if args.rules_only:
        def assess_fn(text: str) -> triage.Assessment:
            level, cues, other, _ = triage.assess_rules(text)
            return triage.Assessment(level, cues, (), other)
    else:
        assess_fn = assess
    splits = {"both": ["test", "dev"], "none": []}.get(args.split, [args.split])
    for split in splits:
        rows = load(DATA, split)
        report(f"{split} part", rows, assess_fn, args.misses)
        para = paraphrase_check(rows, assess_fn)
        print(f"  paraphrase check: {para['rate']:.3f} of {para['n']} rewrites keep the level  " +
              " ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(para["kinds"].items())))
        if args.misses:
            for kind, base, got, text in para["failures"]:
                print(f"    paraphrase [{kind}] {base} -> {got}: {text}")
    rows = load(DATA, "all")
    assess_fn("warm up")
    load_before = os.getloadavg()
    for name, texts in (("all labelled messages", [r["text"] for r in rows]),
                        ("benign messages only (none)", [r["text"] for r in rows if r["level"] == "none"])):
        cold = speed(texts, args.seconds, lambda t: (triage.clear_caches(), assess_fn(t)))
        print(f"speed, {name:<28} {cold:>8,.0f} messages/second (CPU time, one core, per-text caches cleared)")
    distinct = list(dict.fromkeys(r["text"] for r in rows))
    fresh = cold_speed(distinct, assess_fn)
    print(f"speed, {len(distinct)} distinct texts once each {fresh:>8,.0f} messages/second (CPU time, one core, "
          "word cache emptied too)")
    print("load average (1, 5, 15 min) before / after: " + " ".join(f"{x:.2f}" for x in load_before) + " / " +
          " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
