"""Crisis triage: `assess(text) -> Assessment`, by meaning rather than by string.

Missing a crisis is the worst failure this service can have; crying wolf on figurative speech
(死ぬほど眠い) erodes trust. The pipeline (the vocabulary and the rules are data, in
`flows/triage_lexicon.toml`, which says how each part is read):

1. a fast normalization pre-pass (NFKC, spaces and long repeats folded, net slang and kana-only
   spellings mapped onto plain words);
2. SudachiPy (sudachidict-core) turns the text into tokens with normalized lemmas, so conjugations
   and spellings fold (飲んだ/のんだ/飲みました -> 飲む);
3. each concept found on a token gets the modalities of the words after it (wish, intent, done,
   under way, negated, figurative…): 死ぬほど眠い is figurative, ゲームしてても死にたい is a wish;
4. the level is decided by combinations of concepts (means + act done -> imminent; self-death + wish
   -> high; harm to a family member + そう/たい -> high…);
5. a learned second opinion (`flows/triage_model.json`, built by `flows/triage_train.py` from the
   labelled dev data) may raise the level by one step, never lower it.
"""

from __future__ import annotations

import bisect
import enum
import functools
import re
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from re import _constants as _re_constants  # noqa: PLC2701 - the parser of the standard re module
from re import _parser as _re_parser  # noqa: PLC2701
from typing import NamedTuple

LEXICON_PATH = Path(__file__).with_name("triage_lexicon.toml")


class RiskLevel(enum.StrEnum):
    NONE = "none"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return _RANK[self]


RISK_ORDER = [RiskLevel.NONE, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.IMMINENT]
_RANK = {level: n for n, level in enumerate(RISK_ORDER)}


@dataclass(frozen=True)
class Assessment:
    level: RiskLevel
    cues: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    # The person at risk is someone else (a son, a husband…): the writer is a family member or
    # friend, and needs wording and contacts for the one who reports, not the one at risk.
    about_other: bool = False

    @property
    def is_crisis(self) -> bool:
        return self.level in (RiskLevel.HIGH, RiskLevel.IMMINENT)


# ------------------------------------------------------------------------------------------------
# Normalization

_KATA_TO_HIRA = {cp: cp - 0x60 for cp in range(ord("ァ"), ord("ヶ") + 1)}
_SPACED_OUT = re.compile(r"(?:[^\x00-\x7f][\s　]+){2,}[^\x00-\x7f]|(?:[^\x00-\x7f][、,]){3,}[^\x00-\x7f]")
_KATAKANA_RUN = re.compile("[ァ-ヺー]+")
# pictographs that stand for a word of the lexicon
_PICTURE_WORDS = {"🌉": "橋", "💊": "薬", "🔪": "包丁", "🏢": "ビル", "🏬": "ビル", "🚃": "電車", "🚆": "電車",
                  "🚉": "駅", "🌊": "海", "🪢": "ロープ", "🩸": "血", "🗡": "刃物", "⚰": "死", "🪦": "死"}
_PICTURE = re.compile("|".join(_PICTURE_WORDS))
_LAUGH = re.compile("[\U0001F602\U0001F923\U0001F606\U0001F639\U0001F605]+")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]+")
_SPACE_BEFORE_SURU = re.compile(r"(?<=[^\x00-\x7f])[\s　]+(?=し(?:たい|よう|た|ます|て)|する)")
# a stray space before a short kana ending (死にた い, 消え たい): a typo inside one word
_DANGLING_TAIL = re.compile(r"(?<=[^\x00-\x7f])[\s　]+(?=[ぁ-ん]{1,2}(?:$|[\s　、。,.!?！？…]))")
_SPACE_BETWEEN_JA = re.compile(r"(?<=[^\x00-\x7f])[\s　]+(?=[^\x00-\x7f])")
_ANY_SPACE = re.compile(r"\s")
_REPEAT = re.compile(r"([^\d])\1{2,}")
_DOTS_AFTER_JA = re.compile(r"(?<=[^\x00-\x7f])\.+")
_LONG_VOWEL = re.compile(r"(?<=[ぁ-ん])[ー〜~]+(?=[いぃ。、!?！？…]|$)")
_KATAKANA_ONLY = re.compile(r"^[^ぁ-ん一-龯]*[ァ-ヺ][^ぁ-ん一-龯]*$")


def _fold(text: str) -> str:
    """Katakana -> hiragana, character for character (offsets are kept)."""
    return text.translate(_KATA_TO_HIRA)


class Lexicon:
    """The concepts and rules of triage_lexicon.toml, compiled."""

    def __init__(self, path: Path = LEXICON_PATH) -> None:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        self.slang = [(re.compile(p), r) for p, r in data["normalize"]["slang"]]
        self.any_slang = re.compile("|".join(f"(?:{p})" for p, _ in data["normalize"]["slang"]))
        self.concepts: dict[str, tuple[frozenset[str], re.Pattern[str] | None]] = {}
        self.context: dict[str, tuple[frozenset[str], re.Pattern[str] | None]] = {}
        pre = data["prefilter"]
        modifiers = set(pre["modifiers_only"])
        # Every phrase is its own small expression, indexed by the one or two characters a match must
        # begin with: a text is only searched for the phrases whose beginnings it contains.
        self.phrases = _PhraseIndex()
        self.prefilter = _PhraseIndex()
        for section, target in (("concepts", self.concepts), ("context", self.context)):
            for name, spec in data[section].items():
                forms, multi = _lemma_forms(spec.get("lemmas", []))
                lemmas = frozenset(forms)
                # a word the analyzer splits (硫化水素 -> 硫化 + 水素) is looked for as a phrase
                phrases = [_fold(unicodedata.normalize("NFKC", p).lower())
                           for p in [*spec.get("phrases", []), *(re.escape(w) for w in multi)]]
                target[name] = (lemmas, re.compile("|".join(f"(?:{p})" for p in phrases)) if phrases else None)
                for p in phrases:
                    # concept phrases are found at every start, overlapping (火を腕 | 腕に押しつけ: both count)
                    self.phrases.add(p, (section, name), overlapping=section == "concepts")
                    if name not in modifiers:
                        self.prefilter.add(p, (section, name))
        # token form -> the concepts it carries
        self.by_lemma: dict[str, list[str]] = {}
        for name, (lemmas, _rx) in self.concepts.items():
            for lemma in lemmas:
                self.by_lemma.setdefault(lemma, []).append(name)
        self.context_lemmas: dict[str, list[str]] = {}
        for name, (lemmas, _rx) in self.context.items():
            for lemma in lemmas:
                self.context_lemmas.setdefault(lemma, []).append(name)
        # The pre-filter: a text matching none of these stems and phrases cannot fire any rule, so it
        # skips the analyzer. Stems: the first kanji of a lexicon word (飲む -> 飲), or the first three
        # kana of a word written in kana.
        stems: set[str] = set()
        for name, (lemmas, _rx) in (*self.concepts.items(), *self.context.items()):
            if name in modifiers:
                continue
            for lemma in lemmas:
                if not lemma:
                    continue
                if "一" <= lemma[0] <= "龯":
                    stems.add(lemma[0])  # a word written with a kanji: its first kanji
                elif len(lemma) >= 2:
                    stems.add(lemma if len(lemma) <= 3 else lemma[:3])
        for stem in sorted(stems):
            self.prefilter.add(re.escape(stem), ("stem", stem))
        for p in pre["extra"]:
            self.prefilter.add(_fold(p), ("extra", p))
        self.derive: list[tuple[str, list[frozenset[str]], list[frozenset[str]]]] = [
            (d["name"], _clauses(d.get("all", [])), _clauses(d.get("none", []))) for d in data.get("derive", [])]
        self.rules: list[tuple[RiskLevel, str, list[frozenset[str]], list[frozenset[str]]]] = [
            (RiskLevel(r["level"]), r["cue"], _clauses(r.get("all", [])), _clauses(r.get("none", [])))
            for r in data["rules"]]
        self.rules_by_severity = sorted(self.rules, key=lambda r: -_RANK[r[0]])
        if any(not d[1] for d in self.derive) or any(not r[2] for r in self.rules):
            raise ValueError("every derived tag and rule needs an `all` list")


class _PhraseIndex:
    """Regular expressions keyed by the one- or two-character strings their matches begin with."""

    def __init__(self) -> None:
        self.by_start: dict[str, list[tuple[re.Pattern[str], tuple[str, str]]]] = {}
        self.always: list[tuple[re.Pattern[str], tuple[str, str]]] = []

    def add(self, pattern: str, owner: tuple[str, str], overlapping: bool = False) -> None:
        rx = re.compile(f"(?=({pattern}))" if overlapping else pattern)
        starts = _prefixes(pattern)
        if starts is None:
            self.always.append((rx, owner))
            return
        for start in starts:
            self.by_start.setdefault(start, []).append((rx, owner))

    def candidates(self, grams: set[str]) -> list[tuple[re.Pattern[str], tuple[str, str]]]:
        """The expressions that may match a text whose one- and two-character substrings are `grams`."""
        by_start = self.by_start
        out = list(self.always)
        for g in grams & by_start.keys():
            out += by_start[g]
        return out


def _grams(text: str) -> set[str]:
    """The one- and two-character substrings of a text."""
    return set(text) | {text[i:i + 2] for i in range(len(text) - 1)}


def _prefixes(pattern: str) -> set[str] | None:
    """The strings of one or two characters that every match of `pattern` begins with, or None when
    that is not a small known set (a group that may be empty, a wildcard, a negated class...)."""
    try:
        out = _starts(list(_re_parser.parse(pattern)), 2)
    except (re.error, TypeError, ValueError):
        return None
    return None if out is None or "" in out else out


def _starts(items: list, k: int) -> set[str] | None:  # noqa: C901, PLR0911, PLR0912 - one case per node type
    """The beginnings (up to k characters) of what the parsed items match; "" when they may match empty."""
    c = _re_constants
    for idx, (op, av) in enumerate(items):
        if op is c.AT or op in (c.ASSERT, c.ASSERT_NOT):
            continue  # zero width: the next item still has to match
        rest = items[idx + 1:]
        if op is c.SUBPATTERN:
            return _starts(list(av[-1]) + rest, k)
        if op is c.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                b = _starts(list(branch) + rest, k)
                if b is None:
                    return None
                union |= b
            return union
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            if hi == 1:  # x? : x and what follows, or what follows alone
                with_it = _starts(list(sub) + rest, k)
                without = _starts(rest, k) if lo == 0 else set()
                return None if with_it is None or without is None else with_it | without
            once = _starts(list(sub), k)  # what follows the first repetition is not looked at
            if lo >= 1 or once is None:
                return once if lo >= 1 else None
            skipped = _starts(rest, k)
            return None if skipped is None else once | skipped
        if op is c.LITERAL:
            heads = {chr(av)}
        elif op is c.IN:
            heads = set()
            for kind, value in av:
                if kind is c.LITERAL:
                    heads.add(chr(value))
                elif kind is c.RANGE and value[1] - value[0] <= 256:
                    heads.update(chr(x) for x in range(value[0], value[1] + 1))
                else:
                    return None
        else:
            return None
        if k == 1:
            return heads
        tails = _starts(rest, k - 1)
        if tails is None or len(heads) * len(tails) > 512:
            return heads
        return {h + t for h in heads for t in tails}
    return {""}


def _lemma_forms(words: list[str]) -> tuple[set[str], list[str]]:
    """A lexicon word as written, and as the analyzer normalizes it (ぶっ殺す -> 打ち殺す); and the words
    the analyzer reads as several tokens (no single token can carry them)."""
    out, multi = set(), []
    for w in words:
        w = unicodedata.normalize("NFKC", w).lower()
        out.add(_fold(w))
        toks = tokenize(w)
        if len(toks) == 1:
            # the normalized form, unless a word written with kanji shares none with it (殺る -> 遣る would
            # make every やる a threat)
            kanji = {c for c in _fold(w) if not "ぁ" <= c <= "ゖ"}
            if not kanji or kanji & set(toks[0].lemma):
                out.add(toks[0].lemma)
        else:
            multi.append(_fold(w))
    return out, multi


def _clauses(items: list[str]) -> list[frozenset[str]]:
    return [frozenset(item.split("|")) for item in items]


@functools.cache
def lexicon() -> Lexicon:
    return Lexicon()


@functools.lru_cache(maxsize=2048)
def normalize(text: str) -> str:
    """NFKC, lower case, spaces inside Japanese dropped, long repeats folded, net slang and kana-only
    spellings mapped onto plain words (katakana is kept for the analyzer)."""
    t = unicodedata.normalize("NFKC", text).lower()
    if _KATAKANA_ONLY.match(t):
        t = _fold(t)  # a message typed all in (half-width) katakana: read it as kana
    # (each substitution is tried only when the characters it needs are there: most messages have none)
    spaced = _ANY_SPACE.search(t) is not None
    if spaced or "、" in t or "," in t:
        # し に た い / し、に、た、い: letters spaced out are one word; other spaces are pauses (、)
        t = _SPACED_OUT.sub(lambda m: re.sub(r"[\s　]+" if " " in m.group() else r"[、,]+", "", m.group()), t)
    t = _LAUGH.sub("笑", t)  # tears of joy: a laugh (😂しぬ is 笑しぬ), not a full stop
    if _PICTURE.search(t):
        t = _PICTURE.sub(lambda m: "、" + _PICTURE_WORDS[m.group()], t)  # 🌉の上にいる: a bridge
    t = _EMOJI.sub("。", t)  # emoji and pictographs end a phrase, like a full stop
    if spaced:
        t = _SPACE_BEFORE_SURU.sub("", t)
        t = _DANGLING_TAIL.sub("", t)
        t = _SPACE_BETWEEN_JA.sub("、", t)
    if "ー" in t or "〜" in t or "~" in t:
        t = _LONG_VOWEL.sub("", t)
    t = _REPEAT.sub(r"\1", t)
    if "." in t:
        t = _DOTS_AFTER_JA.sub("。", t)  # 決めました… (NFKC: ...) ends a phrase like 。
    lex = lexicon()
    folded = _fold(t)
    if not lex.any_slang.search(folded):
        return t
    for rx, replacement in lex.slang:
        if not rx.search(folded):
            continue
        out, last = [], 0
        for m in rx.finditer(folded):
            out.append(_after_replacement(t[last:m.start()]) if out else t[last:m.start()])
            out.append(replacement)
            last = m.end()
        out.append(_after_replacement(t[last:]))
        t = "".join(out)
        folded = _fold(t)
    return _SPACE_BEFORE_SURU.sub("", t) if spaced else t  # jisatsu shitai -> 自殺 したい -> 自殺したい


def _after_replacement(rest: str) -> str:
    """The katakana that goes on right after a replaced word is the rest of that word typed for its sound
    (シニタイヨ -> 死にた + イヨ): kana, so that the analyzer reads 死にたいよ."""
    m = _KATAKANA_RUN.match(rest)
    return _fold(m.group()) + rest[m.end():] if m else rest


# ------------------------------------------------------------------------------------------------
# Tokens and modalities

class Token(NamedTuple):
    """One token of the analyzer (a named tuple: built by the thousand per second, cheaply)."""

    surface: str
    lemma: str          # normalized form, katakana folded to hiragana
    base: str           # dictionary form, katakana folded to hiragana
    pos: str            # first POS field
    pos1: str
    conj: str           # conjugation form
    begin: int
    end: int
    folded: str = ""    # surface, katakana folded to hiragana


@functools.cache
def _dictionary():  # noqa: ANN202 - sudachipy types
    """One dictionary for the process, and a cache of part-of-speech tuples by id."""
    from sudachipy import Dictionary

    return Dictionary(dict="core"), {}


_per_thread = threading.local()


def _analyzer():  # noqa: ANN202 - sudachipy types
    """The dictionary, this thread's tokenizer (mode C: the longest units, measured as fast as mode A
    here and closer to the lexicon's words) and the part-of-speech cache. A SudachiPy tokenizer must
    not be shared between threads: used by two event workers at once it raises, and a crisis text
    would go untriaged until a retry."""
    from sudachipy import SplitMode

    dictionary, word_cache = _dictionary()
    tokenizer = getattr(_per_thread, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _per_thread.tokenizer = dictionary.tokenizer(mode=SplitMode.C)
    return dictionary, tokenizer, word_cache


@functools.lru_cache(maxsize=1024)
def tokenize(text: str) -> tuple[Token, ...]:
    dictionary, tokenizer, word_cache = _analyzer()
    out = []
    for m in tokenizer.tokenize(text):
        surface = m.surface()
        key = (surface, m.part_of_speech_id())
        w = word_cache.get(key)
        if w is None:
            p = dictionary.pos_of(key[1])
            w = (_fold(m.normalized_form()), _fold(m.dictionary_form()), p[0], p[1], p[5], _fold(surface))
            if len(word_cache) < 200_000:
                word_cache[key] = w
        out.append(Token(surface, w[0], w[1], w[2], w[3], w[4], m.begin(), m.end(), w[5]))
    return tuple(out)


_WISH = {
    "たい", "たがる", "てえ", "てー",
}
_NEG = {
    "ず", "ない", "ぬ", "ん", "無い",
}
_TRANSPARENT_VERBS = {
    "いる", "くれる", "しまう", "ちゃう", "てる", "とく", "やめる", "やる", "仕舞う", "出す", "居る", "思う",
    "成る", "捲る", "掛ける", "探す", "有る", "来る", "止める", "決める", "為る", "知れる", "終わる", "続ける",
    "置く", "考える", "行く", "見る", "言う", "調べる", "貰う", "過ぎる", "遣る",
}
_TRANSPARENT_NOUNS = {
    "がち", "くらい", "こと", "さ", "そう", "つもり", "とき", "ところ", "なう", "なんて", "の", "はず", "ばかり",
    "べき", "ほう", "ほど", "ほんと", "まじ", "まで", "みたい", "もん", "よう", "わけ", "ん", "ガチ", "マジ",
    "一度", "予定", "事", "事ばかり", "位", "前", "勇気", "場所", "所", "方", "方法", "時", "本当", "様", "毎日",
    "自分", "姿", "想像", "妄想", "イメージ", "いめーじ", "夢", "為", "中", "最中",
    "気持ち", "決心", "準備", "程", "積もり", "筈", "衝動", "覚悟", "訳", "迄", "けん", "けえ", "けぇ",
}
# verbs that take a concept as their object and keep its reading: 死ぬことを考える, 死ぬのをやめる
_OBJECT_VERBS = {
    "考える", "調べる", "探す", "決める", "止める", "やめる", "諦める", "選ぶ", "続ける", "繰り返す", "望む",
    "願う", "思う", "思い浮かべる", "想像", "検索", "図る", "試みる", "企てる", "為る", "遣る", "やる", "終える",
    "待つ", "夢見る",
}
_QUOTE_VERBS = {
    "言う", "書く", "送る", "叫ぶ", "泣く", "思う", "連絡", "電話", "呟く", "話す", "聞く", "残す", "云う", "申す",
    "言い出す", "口走る", "訴える", "漏らす", "メール", "書き込む", "投稿", "打つ", "来る", "言い残す", "伝える",
}
_STOP_CONJ = {
    "から", "が", "けど", "けれど", "けれども", "し", "ても", "でも", "ので", "のに",
}
_FIG_NEXT = {
    "くらい", "ぐらい", "ほど", "まで", "よう", "位", "前", "思い", "様", "気", "物狂い", "程", "迄",
}
_DECL_TAIL = {
    "行く", "来る", "せる",
    "けぇ", "けえ", "けん", "さ", "じゃ", "ぜ", "ぞ", "だ", "っちゃ", "で", "です", "と", "とも", "な", "に", "ね",
    "ねん", "の", "のだ", "べ", "ます", "も", "や", "よ", "わ", "ん", "為る",
}


_QUIT = re.compile(r"^(?:は|を|も|の|のを|のは|こと|ことは|ことを)?(?:もう)?(?:やめ|止め|辞め)"
                   r"(?:た|まし|て(?:いる|る|ます|から))")
_HABIT = re.compile(r"(?:やめ|止め|止まら)(?:られ|れ)?(?:ない|なく|ません|ん)")
# a negation that is itself negated, further on in the sentence: 死にたいと思わない日はない, 死にたくないわけじゃない,
# 死にたくない、とは言い切れない, 死にたくないって言ったら嘘になる (the wish stands)
_NEG_NEGATED = re.compile(
    r"^[^。!?！？]{0,14}?(?:ない|なく|なかった|ず|ません|ませんでした)[、,]?(?:"
    r"(?:日|夜|朝|晩|時|とき|瞬間|ことは|ことが|事は)(?:は|が|も|なんて|なんか)?(?:一日も|ほとんど|全然)?(?:ない|無い|ありません|なかった)"
    r"|(?:って|と)(?:は)?(?:言った|言って|言いました|約束した)(?:けど|けれど|が)[、,]?(?:それは)?(?:嘘|うそ|ウソ|本当は|ほんとは|実は)"
    r"|(?:って|という)?(?:わけ|訳)(?:じゃ|では|でも)(?:ない|ありません|なく|ねえ|ねー)"
    r"|(?:とは|って|なんて|とも)(?:は)?(?:言い切れ|いいきれ|言え|いえ|断言でき|約束でき|思え)(?:ない|ません|ず)"
    r"|(?:って|と)(?:言ったら|言えば|いったら)(?:嘘|うそ|ウソ))"
    # not saying it (死にたいって言わないようにしてる): the wish is there
    r"|^[^。]{0,6}(?:って|と)(?:は)?(?:言わ|口にし|口に出さ|書か)(?:ない|ず)(?:ように|で)")
# the wish named and then denied: 死にたい気持ちは今はない, 死ぬ気はもうありません, 消えたい思いはなくなった
_NOT_FEELING = re.compile(
    r"^(?:たい|たく|る|ぬ|う|く)?(?:って|という|との|と|ような)?(?:気持ち|気|思い|考え|つもり|予定|気分|願望|衝動)"
    r"(?:は|も|が|とか|なんて|なんか)(?:今は|いまは|もう|今|全然|別に|特に|まったく|全く|あまり|そんなに|ちっとも|少しも)*"
    r"(?:ない|無い|ありません|ないです|ないよ|なくなりました|なくなった|消えた|消えました)(?![くい])")
_UNDONE = re.compile(r"^(?:て|で)(?:全部|すべて|全て)?(?:なかった|無かった)(?:こと|事)に")
_NEED = re.compile(r"^(?:ない|なけれ|なきゃ|なくちゃ)(?:と|ば)?(?:だめ|いけ|落ち着か|眠れ|ならな|$)")


def _clause_end_mods(tokens: tuple[Token, ...], start: int) -> set[str]:
    """The modality of the predicate that closes the clause (for a te-form: 死んで…したい)."""
    k = start
    while k < len(tokens) and tokens[k].pos not in ("補助記号", "空白") and not (
            tokens[k].pos1 == "接続助詞" and tokens[k].lemma in _STOP_CONJ):
        k += 1
    window = tokens[start:k]
    mods: set[str] = set()
    for s in window[-4:]:
        if s.lemma in _WISH:
            mods.add("wish")
        if s.lemma == "た" and s.pos == "助動詞" and not s.conj.startswith("仮定"):
            mods.add("done")
        if s.lemma in ("てる",) or (s.lemma == "居る" and s.pos1 == "非自立可能"):
            mods.add("prog")
    if "wish" in mods:
        return {"wish"}
    return mods


def _modalities(tokens: tuple[Token, ...], i: int) -> set[str]:
    """What the words after token i say about it: wished, intended, done, negated, figurative…"""
    tok = tokens[i]
    mods: set[str] = set()
    if tok.conj.startswith("意志推量"):
        mods.add("intent")
    if tok.conj.startswith("仮定"):
        mods.add("cond")
    if tok.lemma == "死ぬ" and tok.surface.endswith(("ねる", "ねれ", "ねた", "ねない", "ねな")):
        mods.add("cond")  # potential 死ねる
    seen: list[Token] = []
    stopped_on_content = False
    broke_on_comma = -1
    for k in range(i + 1, min(i + 10, len(tokens))):
        s = tokens[k]
        if s.pos in ("補助記号", "空白"):
            if s.surface in ("、", ",", "，"):
                broke_on_comma = k
            break
        if s.pos1 == "接続助詞" and s.lemma in _STOP_CONJ:
            break
        if s.lemma == "と" and len(seen) == 0 and tok.pos == "動詞" and k + 1 < len(tokens) \
                and not tok.conj.startswith("意志推量") and tokens[k + 1].pos in ("動詞", "形容詞") \
                and tokens[k + 1].lemma not in _QUOTE_VERBS and tokens[k + 1].lemma != "為る":
            # 〜にいると飛び込みたくなる: "whenever", a condition, not a report (〜にいると言った)
            mods.add("cond")
            stopped_on_content = True
            break
        if s.lemma in ("つく", "付く", "就く") and seen and seen[-1].lemma == "に":
            seen.append(s)  # 〜について: about it
            continue
        if s.pos == "動詞" and seen and seen[-1].lemma == "を" and s.lemma not in _OBJECT_VERBS:
            # the concept is the object of another act (自殺のことを見て…): its modality is not the concept's
            stopped_on_content = True
            break
        if s.pos in ("名詞", "代名詞") and s.lemma not in _TRANSPARENT_NOUNS:
            stopped_on_content = True
            break
        if s.pos == "動詞" and s.lemma not in _TRANSPARENT_VERBS and s.pos1 != "非自立可能":
            stopped_on_content = True
            break
        if s.pos == "形容詞" and s.lemma not in ("無い", "ない", "良い", "いい", "欲しい", "ほしい"):
            stopped_on_content = True
            break
        seen.append(s)
    lemmas = [s.lemma for s in seen]
    surfaces = "".join(s.surface for s in seen)
    first = lemmas[0] if lemmas else ""
    for n, s in enumerate(seen):
        if s.lemma in _WISH:
            mods.add("wish")
        if s.lemma in ("べし", "べき"):
            mods.add("intent")
        if s.conj.startswith("意志推量"):
            if s.lemma == "だ" and n == 1 and lemmas[0] == "た":
                mods.add("intent")  # 死んだろ(う) (dialect)
            elif s.lemma != "だ":
                mods.add("intent")
        factual = False
        if s.lemma == "た" and s.pos == "助動詞":
            # 殴ったら動かなくなった: a たら clause followed by a past one tells what happened
            factual = s.conj.startswith("仮定") and "done" in _clause_end_mods(tokens, i + n + 2)
            mods.add("cond" if s.conj.startswith("仮定") and not factual else "done")
        if s.lemma in ("ば", "なら") or (s.lemma == "た" and s.conj.startswith("仮定") and not factual) \
                or (s.lemma == "だ" and s.conj.startswith("仮定")):
            mods.add("cond")
        if s.lemma in ("てる",) or (s.lemma == "居る" and n > 0) or s.surface in ("とる", "よる"):
            mods.add("prog")
        if s.lemma in ("れる", "られる") and s.pos == "助動詞":
            mods.add("passive")
        if s.lemma in ("積もり", "つもり", "予定") or (s.lemma == "為" and n == 0):
            mods.add("intent")  # 飛ぶために: a purpose
        if s.lemma in ("方法", "方", "場所"):
            mods.add("method")
        if s.lemma in ("考える", "調べる", "探す", "ばかり", "事ばかり", "想像", "妄想", "イメージ", "いめーじ"):
            mods.add("think")
        if s.lemma in ("図る", "試みる", "企てる"):
            mods.add("try")  # 自殺を図った
        if s.lemma == "夢":
            mods.add("dream")
        if s.lemma in ("中", "最中") and n == 0:
            mods.add("prog")  # OD中: under way  # 兄を刺す夢: an image that returns (a dream of dying is not a wish)
        if s.lemma == "しか":
            mods.add("shika")
        if s.lemma == "そう" and s.pos != "副詞":
            mods.add("seem")
        if s.lemma in ("ほしい", "欲しい") and "wish" not in mods:
            mods.add("want_other")
        if s.lemma == "知れる":
            mods.add("seem")
        if s.lemma in ("仕舞う", "しまう", "ちゃう") and s.conj.startswith(("終止", "連体")):
            mods.add("will")
        if s.lemma in _NEG and s.pos in ("助動詞", "形容詞"):
            mods.add("neg")
        if s.lemma in ("遣る", "やる") and n > 0:
            mods.add("intent")
    if "intent" in mods and re.search(r"(?:う|よう)と(?:し|する|して)", surfaces):
        mods.add("try")
    if tok.conj.startswith("意志推量") and re.match(r"^と(?:し|する|して)", surfaces):
        mods.add("try")
    if lemmas[:2] in (["に", "行く"], ["に", "来る"]) and tok.conj.startswith("連用"):
        mods.add("intent")  # 死にに行く: going to do it
    if re.search(r"^(?:て|で)(?:も)?(?:いい|良い)", surfaces):
        # 死んでもいい(かな): leave to, a wish; 死んでもいいくらい: an exaggeration
        mods.add("fig" if {"くらい", "ぐらい", "ほど", "位", "程"} & set(lemmas) else "cond")
    negs = [n for n, s in enumerate(seen) if s.lemma in _NEG and s.pos in ("助動詞", "形容詞")]
    if len(negs) >= 2 and any(s.lemma in ("思う", "言う", "考える") for s in seen[negs[0]:negs[-1]]):
        mods.discard("neg")  # 死にたくないなんて思えない: a negation negated
    if "wish" in mods and re.search(r"(?:て|で)(?:い|居)?たい", surfaces):
        mods.discard("prog")  # 沈んでいたい: being there wished for, not under way
    if "intent" in mods and re.search(r"(?:う|よう)(?:と|って)(?:思|考)", tok.surface + surfaces):
        mods -= {"prog", "done"}  # 飲もうと思ってる: an intention held, not an act under way
    if re.match(r"^(?:する|します|しよう)?(?:こと|事)に(?:し|決め|な)", surfaces) and "neg" not in mods:
        mods.add("intent")  # 実行することにした / 死ぬことに決めた: decided
        mods -= {"done", "prog"}
    if tok.conj.startswith("終止") and re.match(r"^(?:って|と)(?:もう)?(?:決め|決心)", surfaces):
        mods.add("intent")  # 死ぬって決めてる
        mods.discard("prog")
    elif tok.conj.startswith("終止") and re.match(r"^(?:って|と)(?:毎日|いつも|ずっと|本気で|まじで|マジで|何度も)?(?:思|考)", surfaces) \
            and tok.pos == "動詞":
        mods.add("think")  # ぶっ殺すって毎日思う
    if "think" in mods:
        mods -= {"prog", "done", "intent", "decl", "try"}  # thinking about it (しようか考えてる) is not doing it
    if "shika" in mods or "たまる" in lemmas:
        mods.discard("neg")
    if "neg" not in mods and _QUIT.search(surfaces) and not _HABIT.search(surfaces) and "wish" not in mods:
        mods.add("neg")  # ODはもうやめました: given up, like a negation
    if "neg" in mods and _HABIT.search(surfaces):
        mods.discard("neg")  # 切るのがやめられない: a habit that does not stop, not a denial
        mods.add("habit")
    if "neg" in mods and _UNDONE.match(surfaces):
        mods.discard("neg")  # 死んでなかったことにしたい: undone, as if it never was
        mods |= _clause_end_mods(tokens, i + 1)
    if "neg" in mods and _NEED.match(surfaces):
        mods.discard("neg")  # 切らないと落ち着かない: a need
        mods.add("need")
    if "neg" in mods and re.search(r"ないかな|ないかなあ|ないかしら", surfaces):
        mods.discard("neg")
        mods.add("wish")
    if "wish" in mods and re.search(r"(?:なく|無く)(?:て|ても)?(?:いい|良い)", surfaces):
        mods.discard("wish")
    if re.search(r"(?:方|ほう)が(?:いい|まし|楽)", surfaces) or re.search(r"ば(?:いい|良い)", surfaces):
        mods.add("cond")
        mods.discard("neg")
    if "cond" in mods and "neg" in mods and re.search(r"な(?:けれ|きゃ)", surfaces):
        mods.discard("cond")
    # a te-form before a comma: the clause after it says what it is (橋の欄干に座って、川を見てる)
    if broke_on_comma >= 0 and seen and seen[-1].lemma in ("て", "で") and seen[-1].pos1 == "接続助詞" \
            and not mods - {"prog"}:
        mods |= _clause_end_mods(tokens, broke_on_comma + 1)
    # a te-form that goes on to a clause: 死んで全部なかったことにしたい / 飲んで横になってる
    if stopped_on_content and seen and seen[-1].lemma in ("て", "で") and seen[-1].pos1 == "接続助詞" \
            and not mods - {"prog"}:
        mods |= _clause_end_mods(tokens, i + len(seen) + 1)
    # figurative: 死ぬほど / 死ぬ気で / 死ぬかと思った / 死んだように / 死ぬまでに
    if first in _FIG_NEXT and "cond" not in mods and not (first == "気" and lemmas[1:2] != ["で"]):
        mods.add("fig")  # 死ぬ気で (not 死ぬ気はない)
    if re.match(r"^(?:か|かと)(?:と)?思", surfaces):
        mods.add("fig")
    only_endings = all(s.lemma in _DECL_TAIL or s.pos1 == "終助詞" for s in seen)
    if tok.pos in ("動詞", "名詞", "助詞", "助動詞") and not mods - {"prog"} and only_endings \
            and (not stopped_on_content or lemmas == ["と"]) \
            and (tok.pos == "名詞" and seen or tok.conj.startswith(("終止", "連体")) or lemmas[:1] in (["て"], ["で"])
                 or bool(seen) and seen[-1].conj.startswith(("終止", "連体"))
                 or lemmas[:1] == ["ます"]):
        if not (tok.pos == "名詞" and not seen):
            mods.add("decl")
    if tok.pos == "名詞" and not mods:
        mods.add("bare")
    rest = _rest_of_sentence(tokens, i)
    feeling_denied = bool(_NOT_FEELING.match(rest))
    if feeling_denied:
        mods.add("neg")  # 死にたい気持ちは今はない
    if "neg" in mods and _NEG_NEGATED.match(rest):
        mods.discard("neg")  # 死にたいと思わない日はない: a negation negated
        if feeling_denied:
            mods.add("intent")  # 死ぬ気はないって言ったけど、嘘
            mods -= {"fig", "done"}
    return mods


def _rest_of_sentence(tokens: tuple[Token, ...], i: int) -> str:
    """The surfaces after token i, up to the end of its sentence (at most 16 tokens)."""
    out = []
    for k in range(i + 1, min(i + 17, len(tokens))):
        surface = tokens[k].surface
        if surface in ("。", "!", "?", "！", "？", "…"):
            break
        out.append(surface)
    return "".join(out)


_CAUSE_BEFORE = re.compile(r"(?:すぎ|過ぎ|くて|さで|で|て|と|やばい|ヤバい)$")
_LIGHT_CAUSE = re.compile(
    r"(?:かわい|可愛|尊|うま|美味|おいし|楽し|たのし|面白|おもしろ|嬉し|うれし|好き|推し|最高|眠|ねむ|暑|あつ|寒|さむ|疲れ|つかれ|痛|"
    r"恥ずかし|はずかし|忙し|いそがし|だる|腹減|お腹|多|おお)[^。!?]{0,8}(?:すぎ|過ぎ|くて|さで)")
def _light_cause_before(tokens: tuple[Token, ...], i: int) -> bool:
    """かわいすぎて / 眠くて … earlier in the sentence of token i."""
    k = i
    while k > 0 and tokens[k - 1].surface not in ("。", "!", "?", "！", "？"):
        k -= 1
    return bool(_LIGHT_CAUSE.search("".join(t.surface for t in tokens[k:i])))


_GO_VERBS = {"行く", "来る", "帰る", "出る", "向かう", "入る", "飛び込む", "登る", "上る", "飛び降りる", "降りる",
             "歩く"}
_STRONG = {"wish", "intent", "cond", "shika", "think", "method", "try", "want_other"}


def _is_figurative_death(tokens: tuple[Token, ...], i: int, mods: set[str]) -> bool:
    """死ぬ as an exaggeration: 死ぬほど眠い / 寒くて死ぬ / 眠すぎて死ぬ / ないと死ぬ / 死にそう."""
    if "fig" in mods:
        return True
    if mods == {"cond"} and tokens[i].surface.endswith(("ねる", "ねれ")) and _light_cause_before(tokens, i):
        return True  # 課題多すぎて死ねる: the potential form after a light cause, an exaggeration
    if mods & _STRONG:
        return False
    if i >= 2 and tokens[i - 1].lemma in ("て", "で") and tokens[i - 2].lemma in _GO_VERBS:
        return "seem" in mods  # 海に行って死ぬ: going there to die, not a cause
    before = "".join(t.surface for t in tokens[max(0, i - 2):i])
    plain = bool(mods & {"decl", "seem", "done", "prog"})
    if plain and not mods - {"decl", "seem", "done", "prog"}:
        # かわいすぎて無理、死ぬ: a light cause earlier in the sentence (not つらくて、もう死ぬ)
        if _light_cause_before(tokens, i):
            return True
    return bool(_CAUSE_BEFORE.search(before)) and plain or "seem" in mods


# ------------------------------------------------------------------------------------------------
# Assessment

_TOPICS = {
    "work": re.compile(r"仕事|働|就職|就労|バイト|アルバイト|職場|面接|サポステ|会社"),
    "family": re.compile(r"家族|親|母|父|息子|娘|兄|弟|姉|妹|夫|妻|きょうだい"),
    "money": re.compile(r"お金|金銭|借金|生活費|年金|生活保護|家賃|貯金"),
    "health": re.compile(r"病院|病気|眠れ|不眠|うつ|鬱|体調|心療内科|薬|精神"),
    "belonging": re.compile(r"居場所|友達|友人|仲間|孤独|ひとりぼっち|一人ぼっち|さみしい|寂しい"),
    "violence": re.compile(r"暴力|殴|蹴|叩|虐待|dv|怒鳴|脅"),
}


def concept_tags(text: str) -> set[str]:
    """The tags (concepts with their modalities, and context) that the rules look at."""
    lex = lexicon()
    t = normalize(text)
    folded, grams = _folded_grams(text)
    tags: set[str] = set()
    scrub = lex.context["figurative_scrub"][1]
    scrubbed = folded
    if scrub is not None and scrub.search(folded):
        scrubbed = scrub.sub(lambda m: "□" * len(m.group()), folded)  # same length: offsets stay
        t = "".join(c if c == "□" else o for c, o in zip(scrubbed, t, strict=True))
    tokens = tokenize(t)
    ends = [tok.end for tok in tokens]
    last = len(tokens) - 1

    def token_at(pos: int) -> int:
        return min(bisect.bisect_left(ends, pos), last)

    hits_by: dict[str, set[int]] = {}
    forms: set[str] = set()
    by_lemma = lex.by_lemma
    for k, tok in enumerate(tokens):
        for form in {tok.lemma, tok.base, tok.folded}:
            forms.add(form)
            for name in by_lemma.get(form, ()):
                hits_by.setdefault(name, set()).add(k)
    # the phrases whose first characters are in the text (scrubbing only blanks characters out)
    candidates = lex.phrases.candidates(grams)
    context_phrases = []
    for rx, (section, name) in candidates:
        if section == "context":
            context_phrases.append((rx, name))
            continue
        for m in rx.finditer(scrubbed):
            hits_by.setdefault(name, set()).add(token_at(m.end(1)))

    for name, hits in hits_by.items():
        for k in sorted(hits):
            if name == "present" and k > 0 and tokens[k - 1].lemma in ("て", "で") and tokens[k].pos1 == "非自立可能":
                continue
            mods = _modalities(tokens, k)
            if name == "ingest" and ("done" in mods or "prog" in mods) and _told_afterwards(tokens, k):
                mods.add("past")  # 昨日も飲んだ: told afterwards, not under way now
            if name in ("die", "vanish") and _is_figurative_death(tokens, k, mods):
                tags.add(f"{name}:fig")
                continue
            if "neg" in mods:
                tags.add(f"{name}:neg")
                tags.update(f"{name}:{m}_neg" for m in mods if m != "neg")
                continue
            tags.add(name)
            tags.update(f"{name}:{m}" for m in mods)

    for form in forms:
        tags.update(lex.context_lemmas.get(form, ()))
    for rx, name in context_phrases:
        if name not in tags and rx.search(folded):
            tags.add(name)

    # derived tags, in file order (a derived tag may use the ones before it)
    isdisjoint = tags.isdisjoint
    for name, all_of, none_of in lex.derive:
        # (the first item is tested here: most fail on it, without a call)
        if name not in tags and not isdisjoint(all_of[0]) and _holds(isdisjoint, all_of, none_of):
            tags.add(name)
    return tags


_PAST_DAY = re.compile(r"昨日(?!から)|きのう(?!から)|昨晩|昨夜|おととい|一昨日|先週|先月|去年|この前|前に|以前")
_JUST_NOW = re.compile(r"さっき|今|いま|たった今")


def _told_afterwards(tokens: tuple[Token, ...], k: int) -> bool:
    """The sentence of token k places it on a day gone by (昨日も…飲んだ), and not just now."""
    j = k
    while j > 0 and tokens[j - 1].surface not in ("。", "!", "?", "！", "？", "…"):
        j -= 1
    before = "".join(t.surface for t in tokens[j:k])
    return bool(_PAST_DAY.search(before)) and not _JUST_NOW.search(before)


def _holds(isdisjoint, all_of: list[frozenset[str]], none_of: list[frozenset[str]]) -> bool:  # noqa: ANN001
    """Every `all` item meets the tags and no `none` item does (`isdisjoint`: the tag set's method)."""
    for alt in all_of:
        if isdisjoint(alt):
            return False
    for alt in none_of:
        if not isdisjoint(alt):
            return False
    return True


def _rule_level(tags: set[str]) -> tuple[RiskLevel, tuple[str, ...]]:
    """The most severe level whose rules hold, with the cue of every rule that holds at that level."""
    best: RiskLevel | None = None
    cues: list[str] = []
    isdisjoint = tags.isdisjoint
    for level, cue, all_of, none_of in lexicon().rules_by_severity:
        if best is not None and level is not best:
            break
        if not isdisjoint(all_of[0]) and _holds(isdisjoint, all_of, none_of):
            best = level
            cues.append(cue)
    return best or RiskLevel.NONE, tuple(cues)


@functools.lru_cache(maxsize=2048)
def _folded_grams(text: str) -> tuple[str, set[str]]:
    """The normalized text with katakana folded, and its one- and two-character substrings."""
    folded = _fold(normalize(text))
    return folded, _grams(folded)


def could_matter(text: str) -> bool:
    """False when no concept or cue of the lexicon can be in the text (then the analyzer is skipped)."""
    folded, grams = _folded_grams(text)
    return any(rx.search(folded) for rx, _owner in lexicon().prefilter.candidates(grams))


@functools.lru_cache(maxsize=4096)
def assess_rules(text: str) -> tuple[RiskLevel, tuple[str, ...], bool, frozenset[str]]:
    """The rule-based level, its cues, about_other and the tags (cached: the same text is often
    assessed twice, by the webhook and by the consultation flow)."""
    if not could_matter(text):
        return RiskLevel.NONE, (), False, frozenset()
    tags = concept_tags(text) | {"analyzed"}
    level, cues = _rule_level(tags)
    about_other = level is not RiskLevel.NONE and "about_other" in tags
    return level, cues, about_other, frozenset(tags)


def clear_caches(vocabulary: bool = False) -> None:
    """Forget per-text results (the benchmark measures the work, not the cache); with `vocabulary`, also
    the analyzer's word cache (what a freshly started process has not seen yet)."""
    assess_rules.cache_clear()
    normalize.cache_clear()
    _folded_grams.cache_clear()
    tokenize.cache_clear()
    from flows import triage_model

    if (m := triage_model.model()) is not None:
        m.forget()
    if vocabulary:
        _analyzer()[2].clear()


def assess(text: str) -> Assessment:
    lowered = unicodedata.normalize("NFKC", text).lower()
    topics = tuple(name for name, rx in _TOPICS.items() if rx.search(lowered))
    level, cues, about_other, tags = assess_rules(text)
    from flows import triage_model

    raised = triage_model.second_opinion(text, level)
    if raised.rank > level.rank:
        cues = (*cues, triage_model.CUE)
        level = raised
    if any("暴力" in c or "傷つけ" in c for c in cues) and "violence" not in topics:
        topics = (*topics, "violence")
    return Assessment(level, cues, topics, about_other)
