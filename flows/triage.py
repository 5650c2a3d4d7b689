"""Crisis triage: `assess(text) -> Assessment`, a pure function over normalized Japanese text.

Missing a crisis is the worst failure this service can have; crying wolf on figurative speech
(死ぬほど眠い) erodes trust. Rules are vocabulary families over normalized text, checked from the
most to the least severe, with figurative and third-party-past uses removed first.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass


class RiskLevel(enum.StrEnum):
    NONE = "none"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return RISK_ORDER.index(self)


RISK_ORDER = [RiskLevel.NONE, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.IMMINENT]


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


_KATA_TO_HIRA = {cp: cp - 0x60 for cp in range(ord("ァ"), ord("ヶ") + 1)}
_NOISE = re.compile(r"[\s、。，．,.!！?？…・「」『』（）()\[\]【】~〜ー―‐\-_*＊♪☆★💦😭😢🥲]+")
_REPEAT = re.compile(r"(.)\1{2,}")

def _rx(pattern: str) -> re.Pattern[str]:
    """Compile a rule written in ordinary Japanese into the normalized form the text is matched in."""
    p = unicodedata.normalize("NFKC", pattern).lower().translate(_KATA_TO_HIRA).replace("ー", "")
    return re.compile(p)


# Net slang and spellings folded onto plain words before matching (after kana -> hiragana).
_SLANG = [
    (re.compile(r"たひ(?=に|ね|ぬ|の)|氏(?=ね|に|ぬ)|4ね|市ね"), "死"),
    (re.compile(r"りすとかっと|あむか|れぐか|自傷行為"), "りすか"),
    (re.compile(r"おばどず|過剰摂取"), "od"),
    (re.compile(r"きえたい"), "消えたい"),
    (re.compile(r"ころ(?=す|し|さ)"), "殺"),
    (re.compile(r"じさつ"), "自殺"),
    (re.compile(r"しにたい|しにてえ|しにてー"), "死にたい"),
    (re.compile(r"しのう"), "死のう"),
]

# Figurative and third-party uses, removed before the crisis rules look.
_FIGURATIVE = _rx(
    r"死ぬほど|死ぬ程|死ぬ気で|笑い死|笑死|死ぬかと思った|死ぬかとおもった|殺人的|必死|死活|悩殺|瞬殺|秒殺|"
    r"(?:ドラマ|漫画|まんが|アニメ|映画|小説|ニュース|ゲーム|げーむ|記事|歌詞).{0,12}(?:自殺|死|殺)|忙殺|相殺|黙殺|殺風景|死語|死角|死球|死守|即死(?=した)?|げーむ|ゲーム|ドラマ|漫画|まんが|アニメ|小説|映画|"
    r"キャラ|ぷれい|プレイ|ゾンビ|殺虫|死んだふり|死に(?=ゲー)|(?:祖|そ)(?:父|母)が.{0,6}(?:亡くな|死ん)|"
    r"去年.{0,8}(?:亡くな|死ん)|ペット.{0,6}死|犬が.{0,6}死|猫が.{0,6}死|虫.{0,4}殺"
)

_IMMINENT = [
    ("今まさに行動・計画（遺書・道具・場所）", _rx(
        r"遺書|書き置き|ロープ|縄|首吊|首をつ|首つ|飛び降り|とびおり|屋上にい|屋上から|ホームにい|線路|橋の上|"
        r"練炭|睡眠薬.{0,6}(?:全部|大量|集め|飲ん|のん)|薬.{0,6}(?:全部|大量|たくさん|いっぱい).{0,6}(?:飲|のん)|"
        r"OD(?:した|しちゃ|してる|しました|して)(?!く|い)|"
        r"(?:\d+錠|大量|全部|たくさん|いっぱい|まとめて|一箱|ひと箱).{0,8}(?:飲ん|飲み|のん|飲ん)|"
        r"屋上に(?:来|き|い)|(?:手首|腕|首)を?切っ(?:た|てる|ちゃ)|薬を?(?:ため|貯め|溜め|集め)|(?:明日|今夜|今日|今から|これから|週末|今週).{0,4}(?:死|自殺)|今まで(?:本当に|ほんとに)?ありがと|最後に.{0,12}(?:ありがと|言いたかった)|今から死|これから死|今夜死|今日死|今日で終わり|"
        r"死ぬ準備|死に場所|最後の(?:メッセージ|連絡)|さようなら.{0,10}(?:ありがとう)?|今までありがとう|"
        r"お別れ|リスカ.{0,6}(?:止まらない|とまらない|血が)|切っ(?:た|てる|ちゃった).{0,8}血|血が止まらない|"
        r"刃物.{0,6}(?:持って|手に)|包丁.{0,6}(?:持って|握って|手に)"
    )),
]
_HIGH = [
    ("死にたい・自殺したい（希死念慮）", _rx(
        r"死にたい|死にたく|死のう|死んでしまいたい|死んだ方が|死んだほうが|自殺|自死|命を絶|いのちを絶|"
        r"楽に死|死ぬ方法|死に方|死ねる|死ぬしかない|死ぬしか|生きて(?:い)?たくない|死ねばいい|死ねたら|死なせて|飛び込みたい|飛び降りたい|殺されそう|殺される|殺して(?:ほしい|欲しい|くれ|ください)|終わりにしたい"
    )),
    ("暴力・虐待（受けている／加えそう）", _rx(
        r"殴られ|なぐられ|蹴られ|けられ|叩かれ|たたかれ|暴力|虐待|ＤＶ|dv|首を絞め|刺してや|刺したい|"
        r"殺(?:したい|してやる|してやり|しそう|す気)|ぶっ殺|殴って(?:くる|きた|くる)|暴れて|殴る|蹴ってくる|手をあげ|手を上げ|物を投げ|包丁を向け"
    )),
]
_MODERATE = [
    ("消えたい・いなくなりたい（受動的な希死念慮）", _rx(
        r"消えたい|消えてしまいたい|消え.{0,4}たい|いなくなっても|誰も困らない|どうでもいい|いなくなりたい|居なくなりたい|生まれてこなければ|生まれてきたくなかった|"
        r"目が覚めなければ|目覚めなければ|生きてる意味|生きている意味|生きる意味|生きてても|生きていても|"
        r"いない方がいい|いないほうがいい|存在価値|消滅したい"
    )),
    ("自傷（リスカ・OD など）", _rx(r"リスカ|OD|自傷|傷つけ|切ってしまう|切りたい")),
    ("強い絶望感", _rx(r"もう無理|もうむり|限界|絶望|何もかも嫌|全部嫌|希望がない|未来がない|疲れ果て")),
]

_TOPICS = {
    "work": _rx(r"仕事|働|就職|就労|バイト|アルバイト|職場|面接|サポステ|会社"),
    "family": _rx(r"家族|親|母|父|息子|娘|兄|弟|姉|妹|夫|妻|きょうだい"),
    "money": _rx(r"お金|金銭|借金|生活費|年金|生活保護|家賃|貯金"),
    "health": _rx(r"病院|病気|眠れ|不眠|うつ|鬱|体調|心療内科|薬|精神"),
    "belonging": _rx(r"居場所|友達|友人|仲間|孤独|ひとりぼっち|一人ぼっち|さみしい|寂しい"),
    "violence": _rx(r"暴力|殴|蹴|叩|虐待|DV|ＤＶ|怒鳴|脅"),
}


def normalize(text: str) -> str:
    """NFKC (half-width kana), katakana -> hiragana, no spaces/punctuation/long marks, repeats folded,
    net slang mapped onto plain words."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = t.translate(_KATA_TO_HIRA)
    t = _NOISE.sub("", t)
    t = _REPEAT.sub(r"\1", t)
    for pattern, replacement in _SLANG:
        t = pattern.sub(replacement, t)
    return t


def assess(text: str) -> Assessment:
    t = normalize(text)
    topics = tuple(name for name, rx in _TOPICS.items() if rx.search(t))
    scrubbed = _FIGURATIVE.sub("□", t)
    for level, rules in ((RiskLevel.IMMINENT, _IMMINENT), (RiskLevel.HIGH, _HIGH), (RiskLevel.MODERATE, _MODERATE)):
        cues = tuple(cue for cue, rx in rules if rx.search(scrubbed))
        if cues:
            if any("暴力" in c for c in cues) and "violence" not in topics:
                topics = (*topics, "violence")
            return Assessment(level, cues, topics)
    return Assessment(RiskLevel.NONE, (), topics)
