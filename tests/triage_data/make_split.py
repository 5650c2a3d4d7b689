"""One-off assembly of the labelled set (kept for provenance): the 310 seed messages plus the
family-organised sources in src/, written to messages.tsv with a frozen dev/test split.

The split is a pure function of the text (see `assign`), stratified by family: within each family
the items are ordered by the SHA-256 of their text and the first 40% go to `test`. Messages written
after the split was frozen (src/dev_*.txt, source `dev-extra`) always go to dev, so the test part
never changes.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEVEL = {"i": "imminent", "h": "high", "m": "moderate", "n": "none"}
TEST_SHARE = 0.4

PASSIVE_RELABEL = {"いなくなりたい", "いなくなりたいってたまに思う", "きえたい", "このまま消えてしまいたい",
                   "どこかにいなくなりたい", "息子が消えたいと言っています", "朝、目が覚めなければいいのに", "消えたい",
                   "消えたいなって思うことがあります", "消えてしまいたい", "消滅したい", "親に申し訳なくて消えたい",
                   "目が覚めなければいい", "目覚めなければいいのにと思って寝る"}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assign(rows: list[dict]) -> None:
    by_family: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
    for items in by_family.values():
        items.sort(key=lambda r: text_hash(r["text"]))
        n_test = round(len(items) * TEST_SHARE)
        for k, r in enumerate(items):
            r["split"] = "test" if k < n_test else "dev"


def seed_family(level: str, text: str) -> tuple[str, bool]:
    other = bool(re.match(r"^(?:\d+(?:代|歳)の)?(?:息子|娘|弟|兄|夫|妻)が", text)) and not re.search(
        r"殴|暴れ|包丁を向け|首を絞め|死んだ後", text)
    if other:
        return "family_reporter", True
    if level == "none":
        if re.search(r"死|殺|亡|ゲーム|ドラマ|アニメ|漫画|小説|映画|ニュース", text):
            return "figurative" if not re.search(r"ゲーム|ドラマ|アニメ|漫画|小説|映画|ニュース", text) \
                else "hobby_news_fiction", False
        return "hikikomori_worry", False
    if re.search(r"殴|蹴|叩|暴|虐待|DV|ＤＶ|刺|殺|首を絞|手をあげ|投げ|包丁を向け", text) and level == "high":
        return "harm_to_family", False
    if re.search(r"[ｦ-ﾟ]|[ぁ-ん]{4,}$|\s|たひ|タヒ|い{3,}|ー", text) and level == "high":
        return "typo_emoji_kana", False
    if re.search(r"リスカ|アムカ|自傷|傷つけ|切", text) and level in ("moderate",):
        return "self_harm_words", False
    if re.search(r"消え|いなくなり|目が覚め|目覚め|消滅", text):
        return "ideation_passive", False
    if level == "moderate":
        return "hopelessness", False
    if re.search(r"ありがと|さようなら|最後|お別れ", text):
        return "farewell", False
    if re.search(r"薬|OD|ｵｰﾊﾞｰ", text):
        return "means_medicine", False
    if re.search(r"屋上|飛び降|ベランダ|橋", text):
        return "means_height", False
    if re.search(r"ホーム|線路", text):
        return "means_train", False
    if re.search(r"ロープ|紐|首", text):
        return "means_rope", False
    if re.search(r"切|刃物|包丁", text):
        return "means_cutting", False
    return "seed_ideation", False


def main() -> None:
    rows: list[dict] = []
    with (HERE / "eval_set.tsv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            level, text = r["level"].strip(), r["text"]
            if text in PASSIVE_RELABEL:
                level = "high"
            family, other = seed_family(level, text)
            rows.append({"level": level, "family": family, "about_other": int(other), "source": "seed", "text": text})
    extra: list[dict] = []
    for path in sorted((HERE / "src").glob("*.txt")):
        target = extra if path.name.startswith("dev_") else rows
        source = "dev-extra" if path.name.startswith("dev_") else "new"
        family = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                family = line[3:].strip()
            elif "|" in line:
                code, text = line.split("|", 1)
                target.append({"level": LEVEL[code[0]], "family": family, "about_other": int(code.endswith("o")),
                               "source": source, "text": text.strip()})
    seen: set[str] = set()
    unique = []
    for r in rows:
        key = unicodedata.normalize("NFKC", r["text"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    assign(unique)
    for r in extra:
        key = unicodedata.normalize("NFKC", r["text"])
        if key not in seen:
            seen.add(key)
            r["split"] = "dev"
            unique.append(r)
    with (HERE / "messages.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["split", "level", "family", "about_other", "source", "text"], delimiter="\t",
                           lineterminator="\n")
        w.writeheader()
        for r in sorted(unique[: len(unique) - len([u for u in unique if u["source"] == "dev-extra"])],
                        key=lambda r: (r["family"], r["split"], text_hash(r["text"]))) + \
                [u for u in unique if u["source"] == "dev-extra"]:
            w.writerow(r)
    print(len(rows), "rows,", len(unique), "unique")


if __name__ == "__main__":
    main()
