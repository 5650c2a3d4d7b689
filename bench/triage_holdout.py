"""Triage figures on held-out labelled messages that are NOT in messages.tsv (never used to write rules
or train the model): tests/triage_data/src/*.held, in the format of src/dev_extra*.txt.

    .venv/bin/python bench/triage_holdout.py [FILE.held ...]

Prints the same figures as bench/triage_eval.py (crisis recall, imminent recall, benign flagged, exact,
per family). It deliberately prints no list of misses: reading them would turn the held-out set into
tuning data.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.triage_eval import TARGETS, evaluate  # noqa: E402

LEVEL = {"i": "imminent", "h": "high", "m": "moderate", "n": "none"}


def load_held(path: Path) -> list[dict]:
    rows, family = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            family = line[3:].strip()
        elif "|" in line:
            code, text = line.split("|", 1)
            rows.append({"level": LEVEL[code[0]], "family": family, "about_other": str(int(code.endswith("o"))),
                         "text": text.strip()})
    return rows


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "tests" / "triage_data" / "src").glob("*.held"))
    rows = [r for p in paths for r in load_held(p)]
    result = evaluate(rows)
    print(f"held-out: {len(rows)} messages from {', '.join(p.name for p in paths)}")
    for key, target in TARGETS.items():
        print(f"  {key:<16}{result[key]:.3f}   target {'<=' if key == 'benign_flagged' else '>='} {target}")
    print(f"  about_other recall {result['about_other_recall']:.3f}   "
          f"(crisis {result['n_crisis']}, imminent {result['n_imminent']}, benign {result['n_benign']})")
    print(f"  {'family':<20}{'n':>4}{'crisis_rec':>11}{'immin_rec':>10}{'benign_fl':>10}{'exact':>7}")
    for fam, f in result["families"].items():
        cr = f"{f['crisis_recall']:.2f}" if f["n_crisis"] else "-"
        ir = f"{f['imminent_recall']:.2f}" if f["n_imminent"] else "-"
        bf = f"{f['benign_flagged']:.2f}" if f["n_benign"] else "-"
        print(f"  {fam:<20}{f['n']:>4}{cr:>11}{ir:>10}{bf:>10}{f['exact']:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
