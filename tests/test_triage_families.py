"""Crisis triage, family by family: what each kind of message is rated.

Every example below is taken from the DEV part of tests/triage_data/messages.tsv (checked by
`test_every_example_is_a_dev_item`): the frozen test part is only measured, never copied into rules
or tests.
"""

import csv
from pathlib import Path

import pytest

from flows.triage import RiskLevel, assess

DATA = Path(__file__).resolve().parent / "triage_data" / "messages.tsv"

FAMILIES = {
    "plan or act with medicines, amounts, containers": [
        ("1シート丸ごと飲んだ", "imminent"),
        ("処方されてた薬、1か月分いっぺんに飲んだ", "imminent"),
        ("薬をありったけ飲んで横になってる", "imminent"),
        ("ロキソニン20錠くらい一気に飲みました", "imminent"),
        ("錠剤が飲みにくい", "none"),
        ("漢方薬を試しています", "none"),
    ],
    "heights": [
        ("橋の上にいる。もう飛び降りる", "imminent"),
        ("ダムの上にいる", "imminent"),
        ("非常階段の柵を乗り越えた", "imminent"),
        ("窓から身を乗り出してる", "imminent"),
        ("ベランダで植物を育てています", "none"),
    ],
    "trains and water": [
        ("踏切の前にいます。遮断機が下りたら入る", "imminent"),
        ("線路に降りようとしてる", "imminent"),
        ("今、橋から川を見てる。これから入る", "imminent"),
        ("人身事故を起こしたいって考える", "high"),
        ("水の中で静かに消えたい", "high"),
        ("電車が遅れていて困った", "none"),
        ("夏に海で泳いだ", "none"),
    ],
    "ropes, cutting and other means": [
        ("ネクタイで首を絞めてる", "imminent"),
        ("首つりの準備してる", "imminent"),
        ("包丁で首を切ろうとしてる", "imminent"),
        ("手首から血がどくどく出てる", "imminent"),
        ("車の排気ガスを車内に引き込んだ", "imminent"),
        ("車でトラックに突っ込みたい", "high"),
        ("クローゼットを片付けた", "none"),
        ("髪を切りに行けた", "none"),
        ("ガスコンロの調子が悪い", "none"),
    ],
    "other words for carrying a plan out": [
        ("いよいよ今夜。覚悟はできた", "imminent"),
        ("場所も道具もそろった。これから向かう", "imminent"),
        ("方法も場所も決めてある", "high"),
        ("準備だけはしてある", "high"),
        ("決心がついたので明日ハローワークに行きます", "none"),
        ("準備は全部できた、明日は面接", "none"),
    ],
    "ideation without 死にたい/自殺": [
        ("息をするのをやめたい", "high"),
        ("天国に行きたい。向こうのほうが楽そう", "high"),
        ("身を投げたい", "high"),
        ("自分なんか死ねばいい", "high"),
        ("毎日しぬことを考える", "high"),
        ("命を終わらせる決心がつかない", "high"),
    ],
    "passive ideation (消えたい and its variants)": [
        ("消えてなくなりたい", "high"),
        ("このまま目が覚めなければいいのに", "high"),
        ("寝たら二度と起きないでほしい", "high"),
        ("消えてしまえたら楽なのに", "high"),
        ("生きていても仕方ないと思ってしまう", "moderate"),
    ],
    "English and mixed scripts": [
        ("I don't want to live anymore", "high"),
        ("life is pointless, I want it to end", "high"),
        ("shinitai", "high"),
        ("feeling so depressed lately", "moderate"),
        ("that joke killed me", "none"),
        ("this game is killing me lol", "none"),
    ],
    "farewells": [
        ("いままでほんとうにありがとう。ばいばい", "imminent"),
        ("最期に話を聞いてくれてありがとう", "imminent"),
        ("猫のことを誰かに頼みたい。もう自分は世話できなくなるので", "imminent"),
        ("家族に手紙を書きました。あとはよろしくお願いします", "imminent"),
        ("今までありがとうございました。引っ越すので別の窓口に相談します", "none"),
    ],
    "harm to family members, done or feared": [
        ("兄弟を傷つけてしまいそうで家を出たい", "high"),
        ("父の首を絞めてしまった。動かない", "imminent"),
        ("兄に首を絞められそうになった", "high"),
        ("家族から暴力を受けてる", "high"),
        ("母を怒らせてしまった", "none"),
        ("母を喜ばせたい", "none"),
    ],
    "self-harm in other words": [
        ("切りすぎて止まらない", "imminent"),
        ("血が止まらなくてタオルが足りない", "imminent"),
        ("リスカしてる", "moderate"),
        ("腕にあざがあるのは転んだから", "none"),
    ],
    "net slang, dialects, typos, emoji, kana": [
        ("自死りたい", "high"),
        ("人生詰んだから死ぬ", "high"),
        ("死にたいっちゃけど", "high"),
        ("もう生きとうないけん", "high"),
        ("さっき薬ようけ飲んでしもた", "imminent"),
        ("死 に た い", "high"),
        ("ｹﾞﾝｶｲ ｼﾆﾀｲ", "high"),
        ("いしょかいた", "imminent"),
        ("いまからとびおりる", "imminent"),
        ("推しが尊すぎてしぬ", "none"),
        ("しぬほどわらった😂", "none"),
    ],
    "everyday hikikomori worries and hopelessness": [
        ("電話が怖くて予約できない", "none"),
        ("家族会ってどんなことをしますか", "none"),
        ("精神科に行くべきか迷っている", "none"),
        ("何をやってもうまくいかない、もう無理", "moderate"),
        ("将来に希望がない", "moderate"),
        ("絶望しかない", "moderate"),
    ],
    "self-harm done or beyond a habit (high), ordinary cutting (none)": [
        ("また手首を切ってしまった", "high"),
        ("自分の腕を噛んで血が出た", "high"),
        ("根性焼きをしてしまう", "high"),
        ("自分を傷つけずにはいられない", "high"),
        ("また腕を切ってしまった。浅いけど", "moderate"),
        ("つらいと腕をつねってしまう", "moderate"),
        ("料理中に指を切ってしまった", "none"),
        ("カッターで段ボールを切ってる", "none"),
        ("爪を切りすぎて痛い", "none"),
    ],
    "carrying a plan out, in other words": [
        ("今夜、終わりにする決心がつきました", "imminent"),
        ("みんなが寝静まったら決行します", "imminent"),
        ("もう迷いはありません。日付が変わったらやります", "imminent"),
        ("もう全部終わらせてくる", "imminent"),
        ("いつか実行するつもりで準備している", "high"),
        ("やるなら誰もいない平日の昼かな", "high"),
        ("決行日は土曜、友達と遊園地", "none"),
        ("明日のプレゼン、準備は整った。あとはやるだけ", "none"),
    ],
    "negation scope": [
        ("死にたいわけじゃないけど、もう生きるのが嫌", "high"),
        ("自殺はしないけど、楽になりたい、この世から", "high"),
        ("死ぬつもりなんてないよ、心配しないで", "none"),
    ],
    "a family member reports": [
        ("弟が屋上に行くと書き置きを残して、家にいません", "imminent"),
        ("兄の部屋に練炭と七輪がありました", "high"),
        ("娘の腕に切り傷がたくさんありました", "high"),
        ("夫が最近、身の回りの物を整理し始めていて怖い", "high"),
        ("夫がロープを買ってきた、キャンプ用らしい", "none"),
    ],
    "looking down from a height": [
        ("歩道橋の上から下を見てる、飛べそう", "imminent"),
        ("十階のベランダから下をのぞいてる、落ちたら終われる", "imminent"),
    ],
    "words sharing a stem with a method word": [
        ("消しゴムが消えない", "none"),
        ("車の練習を終わりにした", "none"),
        ("紐をほどくのが苦手", "none"),
        ("首都圏に住んでいます", "none"),
        ("ベルトがきつい", "none"),
        ("包丁を新しく買いました", "none"),
    ],
    "an act told with たら, と as 'whenever', a concept that is the object of another act": [
        ("父を殴ったら動かなくなった", "imminent"),
        ("ホームにいると飛び込みたくなる", "high"),
        ("電車が来るたびに飛び込もうかと思う", "high"),
        ("ニュースで自殺のことを見て考えさせられた", "none"),
    ],
    "means used in other words": [
        ("車の中で練炭をたいてる", "imminent"),
        ("外階段の踊り場の柵をまたいだ", "imminent"),
        ("靴を脱いでそろえた", "imminent"),
        ("部屋の片付けは全部すんだ。今夜にします", "imminent"),
        ("部屋の片付けは全部すんだ、明日は大掃除の続き", "none"),
        ("刃物で首を切りたい", "high"),
        ("今から死ぬ🔪", "imminent"),
        ("今からﾄﾋﾞｵﾘﾙ", "imminent"),
    ],
    "bleeding needs blood, farewells need a goodbye": [
        ("死にたい気持ちが止まらない", "high"),
        ("最後に誰かに聞いてほしかった。じゃあね", "imminent"),
        ("迷惑ばかりかけてごめんなさい。もう終わりにします。ありがとう", "imminent"),
        ("さよならホームランを打った", "none"),
    ],
    "ideation in other words": [
        ("お迎えが早く来ないかな", "high"),
        ("死んでなかったことにしたい", "high"),
        ("存在ごと消したい", "high"),
        ("この世から退場したい", "high"),
        ("死にたくないなんて思えない", "high"),
        ("自殺したさがすごい", "high"),
        ("死にた い", "high"),
        ("I'm thinking about killing myself", "high"),
        ("いまから海に行って死ぬけぇ", "imminent"),
    ],
    "benign: a family member's day, a dose, a topic, a parent's own death, a light cause": [
        ("娘が夜中に出かけて朝帰ってきます", "none"),
        ("ホームセンターでロープと工具を買った", "none"),
        ("風邪薬は何錠飲めばいいですか", "none"),
        ("もうこの話は終わりにしたい", "none"),
        ("私が死んだら娘はどうなるのか心配です", "none"),
        ("かわいすぎて無理、死ぬ", "none"),
        ("ODはもうやめました", "none"),
        ("自分を傷つけたりはしてません", "none"),
        ("腕を切るのがやめられない", "moderate"),
    ],
}

CASES = [(family, text, level) for family, rows in FAMILIES.items() for text, level in rows]


@pytest.mark.parametrize("family,text,level", CASES, ids=[f"{f[:12]}:{t[:14]}" for f, t, _ in CASES])
def test_each_family_is_rated_by_meaning(family, text, level):
    assert assess(text).level == RiskLevel(level), f"{family}: {text}"


def test_every_example_is_a_dev_item():
    with DATA.open(encoding="utf-8") as f:
        rows = {r["text"]: r for r in csv.DictReader(f, delimiter="\t")}
    for _family, text, level in CASES:
        assert text in rows, text
        assert rows[text]["split"] == "dev", f"a frozen test item was copied into a test: {text}"
        assert rows[text]["level"] == level, text
