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
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]+")
_SPACE_BEFORE_SURU = re.compile(r"(?<=[^\x00-\x7f])[\s　]+(?=し(?:たい|よう|た|ます|て)|する)")
_SPACE_BETWEEN_JA = re.compile(r"(?<=[^\x00-\x7f])[\s　]+(?=[^\x00-\x7f])")
_REPEAT = re.compile(r"([^\d])\1{2,}")
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
        self.first_chars: dict[str, frozenset[str] | None] = {}
        self.concepts: dict[str, tuple[frozenset[str], re.Pattern[str] | None]] = {}
        self.context: dict[str, tuple[frozenset[str], re.Pattern[str] | None]] = {}
        for section, target in (("concepts", self.concepts), ("context", self.context)):
            for name, spec in data[section].items():
                lemmas = frozenset(_lemma_forms(spec.get("lemmas", [])))
                phrases = spec.get("phrases", [])
                rx = re.compile("|".join(f"(?:{_fold(unicodedata.normalize('NFKC', p).lower())})" for p in phrases)) \
                    if phrases else None
                target[name] = (lemmas, rx)
                # the first character of every phrase, when each begins with a plain character: a text
                # without any of them cannot match, and the regular expression is not run
                firsts: set[str] | None = set() if phrases else None
                for p in phrases:
                    f = _first_chars(_fold(unicodedata.normalize("NFKC", p).lower()))
                    if f is None or firsts is None:
                        firsts = None
                        break
                    firsts |= f
                self.first_chars[name] = frozenset(firsts) if firsts else None
        # token form -> the concepts it carries
        self.by_lemma: dict[str, list[str]] = {}
        for name, (lemmas, _rx) in self.concepts.items():
            for lemma in lemmas:
                self.by_lemma.setdefault(lemma, []).append(name)
        self.context_lemmas: dict[str, list[str]] = {}
        for name, (lemmas, _rx) in self.context.items():
            for lemma in lemmas:
                self.context_lemmas.setdefault(lemma, []).append(name)
        # A cheap pre-filter: a text matching none of these stems and phrases cannot fire any rule, so
        # it skips the analyzer. Stems: the first kanji of a lexicon word (飲む -> 飲),
        # or the first three kana of a word written in kana.
        pre = data["prefilter"]
        stems: set[str] = set()
        for name, (lemmas, _rx) in (*self.concepts.items(), *self.context.items()):
            if name in pre["modifiers_only"]:
                continue
            for lemma in lemmas:
                if not lemma:
                    continue
                if "一" <= lemma[0] <= "龯":
                    stems.add(lemma[0])  # a word written with a kanji: its first kanji
                elif len(lemma) >= 2:
                    stems.add(lemma if len(lemma) <= 3 else lemma[:3])
        phrases = [f"(?:{rx.pattern})" for name, (_l, rx) in (*self.concepts.items(), *self.context.items())
                   if rx is not None and name not in pre["modifiers_only"]]
        self.prefilter = re.compile("|".join([*phrases, *(re.escape(x) for x in sorted(stems, key=len, reverse=True)),
                                              *(f"(?:{_fold(p)})" for p in pre["extra"])]))
        self.derive: list[tuple[str, list[frozenset[str]], list[frozenset[str]]]] = [
            (d["name"], _clauses(d.get("all", [])), _clauses(d.get("none", []))) for d in data.get("derive", [])]
        self.rules: list[tuple[RiskLevel, str, list[frozenset[str]], list[frozenset[str]]]] = [
            (RiskLevel(r["level"]), r["cue"], _clauses(r.get("all", [])), _clauses(r.get("none", [])))
            for r in data["rules"]]
        self.rules_by_severity = sorted(self.rules, key=lambda r: -_RANK[r[0]])


def _first_chars(pattern: str) -> set[str] | None:
    """The characters a match of `pattern` can begin with, or None when that is not a small known set
    (a group that may be empty, a wildcard, a negated class...). Used to skip regular expressions
    that cannot match a text."""
    try:
        return _firsts(list(_re_parser.parse(pattern)))
    except (re.error, TypeError, ValueError):
        return None


def _firsts(items: list) -> set[str] | None:  # noqa: C901 - one case per node type of the parser
    c = _re_constants
    for op, av in items:
        if op is c.AT or (op in (c.ASSERT, c.ASSERT_NOT)):
            continue  # zero width: the next item still has to match
        if op is c.LITERAL:
            return {chr(av)}
        if op is c.IN:
            out: set[str] = set()
            for kind, value in av:
                if kind is c.LITERAL:
                    out.add(chr(value))
                elif kind is c.RANGE and value[1] - value[0] <= 256:
                    out.update(chr(x) for x in range(value[0], value[1] + 1))
                else:
                    return None
            return out
        if op is c.SUBPATTERN:
            return _firsts(list(av[-1]))
        if op is c.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                f = _firsts(list(branch))
                if f is None:
                    return None
                union |= f
            return union
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            return _firsts(list(av[2]))
        return None
    return None


def _lemma_forms(words: list[str]) -> set[str]:
    """A lexicon word as written, and as the analyzer normalizes it (ぶっ殺す -> 打ち殺す)."""
    out = set()
    for w in words:
        w = unicodedata.normalize("NFKC", w).lower()
        out.add(_fold(w))
        toks = tokenize(w)
        if len(toks) == 1:
            out.add(toks[0].lemma)
    return out


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
    # し に た い / し、に、た、い: letters spaced out are one word; other spaces are pauses (、)
    t = _SPACED_OUT.sub(lambda m: re.sub(r"[\s　]+" if " " in m.group() else r"[、,]+", "", m.group()), t)
    t = _EMOJI.sub("。", t)  # emoji and pictographs end a phrase, like a full stop
    t = _SPACE_BEFORE_SURU.sub("", t)
    t = _SPACE_BETWEEN_JA.sub("、", t)
    t = _LONG_VOWEL.sub("", t)
    t = _REPEAT.sub(r"\1", t)
    lex = lexicon()
    folded = _fold(t)
    if not lex.any_slang.search(folded):
        return t
    for rx, replacement in lex.slang:
        if not rx.search(folded):
            continue
        out, last = [], 0
        for m in rx.finditer(folded):
            out.append(t[last:m.start()])
            out.append(replacement)
            last = m.end()
        out.append(t[last:])
        t = "".join(out)
        folded = _fold(t)
    return t


# ------------------------------------------------------------------------------------------------
# Tokens and modalities

@dataclass(frozen=True, slots=True)
class Token:
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
    "気持ち", "決心", "準備", "程", "積もり", "筈", "衝動", "覚悟", "訳", "迄",
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
    for k in range(i + 1, min(i + 10, len(tokens))):
        s = tokens[k]
        if s.pos in ("補助記号", "空白"):
            break
        if s.pos1 == "接続助詞" and s.lemma in _STOP_CONJ:
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
        if s.lemma == "た" and s.pos == "助動詞":
            mods.add("cond" if s.conj.startswith("仮定") else "done")
        if s.lemma in ("ば", "なら") or (s.lemma == "た" and s.conj.startswith("仮定")):
            mods.add("cond")
        if s.lemma in ("てる",) or (s.lemma == "居る" and n > 0) or s.surface in ("とる", "よる"):
            mods.add("prog")
        if s.lemma in ("れる", "られる") and s.pos == "助動詞":
            mods.add("passive")
        if s.lemma in ("積もり", "つもり", "予定"):
            mods.add("intent")
        if s.lemma in ("方法", "方", "場所"):
            mods.add("method")
        if s.lemma in ("考える", "調べる", "探す", "ばかり", "事ばかり"):
            mods.add("think")
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
    if "think" in mods:
        mods -= {"prog", "done"}  # thinking about it is not doing it
    if "shika" in mods or "たまる" in lemmas:
        mods.discard("neg")
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
    # a te-form that goes on to a clause: 死んで全部なかったことにしたい / 飲んで横になってる
    if stopped_on_content and seen and seen[-1].lemma in ("て", "で") and seen[-1].pos1 == "接続助詞" \
            and not mods - {"prog"}:
        mods |= _clause_end_mods(tokens, i + len(seen) + 1)
    # figurative: 死ぬほど / 死ぬ気で / 死ぬかと思った / 死んだように / 死ぬまでに
    if first in _FIG_NEXT and "cond" not in mods:
        mods.add("fig")
    if re.match(r"^(?:か|かと)(?:と)?思", surfaces):
        mods.add("fig")
    only_endings = all(s.lemma in _DECL_TAIL or s.pos1 == "終助詞" for s in seen)
    if tok.pos in ("動詞", "名詞", "助詞") and not mods - {"prog"} and only_endings \
            and (not stopped_on_content or lemmas == ["と"]) \
            and (tok.pos == "名詞" and seen or tok.conj.startswith(("終止", "連体")) or lemmas[:1] in (["て"], ["で"])
                 or bool(seen) and seen[-1].conj.startswith(("終止", "連体"))
                 or lemmas[:1] == ["ます"]):
        if not (tok.pos == "名詞" and not seen):
            mods.add("decl")
    if tok.pos == "名詞" and not mods:
        mods.add("bare")
    return mods


_CAUSE_BEFORE = re.compile(r"(?:すぎ|過ぎ|くて|さで|で|て|と|やばい|ヤバい)$")
_STRONG = {"wish", "intent", "cond", "shika", "think", "method", "try", "want_other"}


def _is_figurative_death(tokens: tuple[Token, ...], i: int, mods: set[str]) -> bool:
    """死ぬ as an exaggeration: 死ぬほど眠い / 寒くて死ぬ / 眠すぎて死ぬ / ないと死ぬ / 死にそう."""
    if "fig" in mods:
        return True
    if mods & _STRONG:
        return False
    before = "".join(t.surface for t in tokens[max(0, i - 2):i])
    return bool(_CAUSE_BEFORE.search(before)) and bool(mods & {"decl", "seem", "done", "prog"}) or "seem" in mods


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
    folded = _fold(t)
    tags: set[str] = set()
    scrub = lex.context["figurative_scrub"][1]
    if scrub is not None and scrub.search(folded):
        marked = scrub.sub(lambda m: "□" * len(m.group()), folded)  # same length: offsets stay
        t = "".join(c if c == "□" else o for c, o in zip(marked, t, strict=True))
    scrubbed = _fold(t)
    tokens = tokenize(t)
    ends = [tok.end for tok in tokens]

    def token_at(pos: int) -> int:
        for k, e in enumerate(ends):
            if e >= pos:
                return k
        return len(tokens) - 1

    hits_by: dict[str, set[int]] = {}
    forms: set[str] = set()
    for k, tok in enumerate(tokens):
        for form in (tok.lemma, tok.base, tok.folded):
            forms.add(form)
            for name in lex.by_lemma.get(form, ()):
                hits_by.setdefault(name, set()).add(k)

    for name, (_lemmas, rx) in lex.concepts.items():
        hits = hits_by.get(name, set())
        if rx is not None:
            for m in rx.finditer(scrubbed):
                hits.add(token_at(m.end()))
        for k in sorted(hits):
            if name == "present" and k > 0 and tokens[k - 1].lemma in ("て", "で") and tokens[k].pos1 == "非自立可能":
                continue
            mods = _modalities(tokens, k)
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
    chars = set(folded)
    for name, (_lemmas, rx) in lex.context.items():
        if name in tags or rx is None:
            continue
        firsts = lex.first_chars[name]
        if firsts is not None and chars.isdisjoint(firsts):
            continue
        if rx.search(folded):
            tags.add(name)

    # derived tags, in file order (a derived tag may use the ones before it)
    for name, all_of, none_of in lex.derive:
        if name not in tags and _holds(tags, all_of, none_of):
            tags.add(name)
    return tags


def _holds(tags: set[str], all_of: list[frozenset[str]], none_of: list[frozenset[str]]) -> bool:
    for alt in all_of:
        if tags.isdisjoint(alt):
            return False
    for alt in none_of:
        if not tags.isdisjoint(alt):
            return False
    return True


def _rule_level(tags: set[str]) -> tuple[RiskLevel, tuple[str, ...]]:
    """The most severe level whose rules hold, with the cue of every rule that holds at that level."""
    best: RiskLevel | None = None
    cues: list[str] = []
    for level, cue, all_of, none_of in lexicon().rules_by_severity:
        if best is not None and level is not best:
            break
        if _holds(tags, all_of, none_of):
            best = level
            cues.append(cue)
    return best or RiskLevel.NONE, tuple(cues)


def could_matter(text: str) -> bool:
    """False when no concept or cue of the lexicon can be in the text (then the analyzer is skipped)."""
    return lexicon().prefilter.search(_fold(normalize(text))) is not None


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


def clear_caches() -> None:
    """Forget per-text results (the benchmark measures the work, not the cache)."""
    assess_rules.cache_clear()
    normalize.cache_clear()
    tokenize.cache_clear()


def assess(text: str) -> Assessment:
    lowered = unicodedata.normalize("NFKC", text).lower()
    topics = tuple(name for name, rx in _TOPICS.items() if rx.search(lowered))
    level, cues, about_other, tags = assess_rules(text)
    from flows import triage_model

    raised = triage_model.second_opinion(text, level, analyzed=bool(tags))
    if raised.rank > level.rank:
        cues = (*cues, triage_model.CUE)
        level = raised
    if any("暴力" in c or "傷つけ" in c for c in cues) and "violence" not in topics:
        topics = (*topics, "violence")
    return Assessment(level, cues, topics, about_other)
