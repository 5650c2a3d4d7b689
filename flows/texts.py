"""Everything the bot says in the intake and queue, in one place for review by non-programmers.

Tone: short, warm, polite (です・ます), never pushing. Placeholders in {braces} are filled in by the
program; please keep them when editing. The emergency numbers and hours live in emergency_contacts.toml.
"""

# --- when someone adds the account as a friend --------------------------------------------------
GREETING = (
    "友だち追加ありがとうございます。「つなぐ」は、ひきこもりの状態にあるご本人やご家族のための"
    "LINE相談窓口です。\n"
    "地域の家族会・支援団体・ひきこもり地域支援センターの相談員がお返事します。\n"
    "・お名前や連絡先は聞きません（匿名で相談できます）\n"
    "・受付時間：{hours}\n"
    "・命の危険があるときや緊急のときは、119（救急）・110（警察）へ連絡してください\n"
    "話したくなったら、いつでもメッセージを送ってください。"
)
GREETING_AGAIN = "おかえりなさい。また話したくなったら、いつでもメッセージを送ってください。（受付時間：{hours}）"

# --- intake ---------------------------------------------------------------------------------------
CONSENT = (
    "はじめに、相談の内容は相談員だけが読み、個人が特定される形で外に出ることはありません"
    "（命に関わる緊急時を除きます）。この約束に同意して進みますか？"
)
CONSENT_YES = "同意して進む"
CONSENT_NO = "やめておく"
WELCOME_BACK = "おかえりなさい。前回のお答え（{previous_summary}）をそのまま使いますか？"
WELCOME_BACK_SAME = "はい、同じです"
WELCOME_BACK_AGAIN = "答え直す"
WHO = "ご相談されるのはどなたですか？"
AGE = "ひきこもりの状態にある方（ご本人）の年代を教えてください。"
AREA = "お住まいの地域を教えてください。"
CONCERN = "いちばん気になっていることに近いものを選んでください。"
TOPIC = "ありがとうございます。いま一番話したいことを、自由に書いてください。短くても大丈夫です。"

INVALID = "すみません、うまく受け取れませんでした。下のボタンから選ぶか、同じ言葉で送ってください。"
CANCELLED = "わかりました。ここで終わりにしますね。また話したくなったら、いつでもメッセージを送ってください。"
DECLINED = "わかりました。無理に進めなくて大丈夫です。気が向いたら、いつでもまたメッセージを送ってください。"
RESTARTED = "はじめからやり直しますね。"
EXPIRED = (
    "しばらくお返事がなかったので、いったん受付を終了しました。"
    "また話したくなったら、いつでもメッセージを送ってください。"
)
NON_TEXT_IN_INTAKE = "ありがとうございます。お手数ですが、文字かボタンで答えていただけますか？"

COMMAND_CANCEL = ("やめる", "キャンセル", "中止")
COMMAND_RESTART = ("最初から", "はじめから", "やり直し")

# --- queue ------------------------------------------------------------------------------------------
QUEUED = (
    "ありがとうございます。相談員につなぎますので、このままお待ちください。\n"
    "いま{ahead}人の方がお待ちです。相談員が入ると、このトークでお知らせします。"
)
QUEUED_FIRST = (
    "ありがとうございます。相談員につなぎますので、このままお待ちください。\n"
    "次にお返事しますので、少しだけお待ちくださいね。"
)
QUEUED_LONG = (
    "ありがとうございます。相談員につなぎますので、このままお待ちください。\n"
    "いまは相談が混み合っていて、お返事まで時間がかかるかもしれません。"
    "お待ちいただく間に書きたいことがあれば、ここに送ってください。相談員が読みます。"
)
QUEUED_LONG_THRESHOLD = 5  # from this many people ahead, the gentle wording is used
# No 「順番」 in anything said while waiting: a person may have been promised priority before.
WAITING_ACK = "メッセージを受け取りました。相談員がお返事しますので、もう少しお待ちください。"
STILL_WAITING = (
    "お待たせしていてごめんなさい。相談員がお返事できるまで、もう少しだけお待ちください。"
    "書きたいことがあれば、ここに送ってくださいね。"
)

# --- where you stand in the queue, and who answers (issue 10) -----------------------------------------
# Only ever said to someone NOT at risk (the at-risk states of flows/lifecycle.py do not list these
# commands, and the table refuses to be built if they did). Honest, never a promise.
POSITION_ASK = "あと何人？"  # quick-reply labels (at most 20 characters)
NOTIFY_ASK = "順番が来たら知らせて"
SAME_COUNSELOR_ASK = "前回の相談員を希望"
COMMAND_POSITION = ("あと何人？", "あと何人", "何番目？", "何番目", "何人待ち？", "何人待ち", "あとどれくらい？",
                    "あとどれくらい", "あと何分？", "あと何分")
COMMAND_NOTIFY = (NOTIFY_ASK, "順番がきたら知らせて", "知らせて", "知らせてください", "通知して")
COMMAND_SAME_COUNSELOR = (SAME_COUNSELOR_ASK, "前回の相談員がいい", "同じ相談員がいい", "前と同じ人がいい")
POSITION_NEXT = "次にお返事する番です。相談員が入ると、このトークでお知らせします。"
POSITION_AHEAD = "いま、あなたの前に{ahead}人の方がお待ちです。"
WAIT_ESTIMATE = "最近は、お返事までおよそ{wait}でした。あくまで目安で、前後することがあります。"
WAIT_FEW_MINUTES = "数分"
WAIT_MINUTES = "{minutes}分"
WAIT_OVER_AN_HOUR = "1時間以上"
WAIT_UNKNOWN = "どのくらいお待ちいただくかは、いまはわかりません。ごめんなさい。できるだけ早くお返事しますね。"
NOTIFY_OK = (
    "わかりました。次にお返事する番になったら、このトークでお知らせします。それまで、ほかのことをしていて大丈夫です。"
)
NOTIFY_ALREADY = "はい、お知らせする準備はできています。次にお返事する番になったら、このトークでお知らせします。"
NOTIFY_NOW = "次にお返事する番です。相談員が入ると、このトークでお知らせします。"
TURN_NEXT = "お待たせしました。次にお返事する番になりました。相談員が入るまで、もう少しだけお待ちください。"
SAME_COUNSELOR_OFFER = "前回お話しした相談員が、いま受付中です。よければ、同じ相談員を希望することもできます。"
SAME_COUNSELOR_OK = "前回お話しした相談員に伝えました。その相談員がお返事しますので、少しお待ちください。"
SAME_COUNSELOR_UNAVAILABLE = (
    "ごめんなさい、前回の相談員は、いまはお返事できないようです。ほかの相談員が、心をこめてお返事しますね。"
)
# A counselor hands the consultation to another member or colleague (gently; the story goes with it).
TRANSFERRED_TO_MEMBER = (
    "より合った相談先の相談員におつなぎします。これまでのお話は引き継がれますので、同じことを"
    "くり返さなくて大丈夫です。少しだけお待ちください。"
)
NOTICE_TRANSFERRED_TO_MEMBER = "{name}へ引き継ぎました。"  # a line in the chat for the counselors only
TRANSFERRED_TO_COLLEAGUE = (
    "ここからは、別の相談員がお返事します。これまでのお話は引き継いでいますので、安心してください。"
)
# Referral card (a LINE Flex message): the heading and the alt text a phone shows in the chat list.
REFERRAL_INTRO = "ご紹介した相談先の案内です。気が向いたときに、ご自分のペースで連絡してみてください。"
REFERRAL_ALT = "相談先のご案内：{name}"
REFERRAL_WHAT = "どんなところ"
REFERRAL_CONTACT = "連絡先"
REFERRAL_HOURS = "受付時間"
REFERRAL_LINK = "くわしく見る"

# --- a person at risk --------------------------------------------------------------------------------
# One coherent set: the first bubble names 119/110 and asks to call now; then the lines open at this
# moment (built from emergency_contacts.toml); then one status bubble that never contradicts the others:
# in hours "priority", outside hours "first when we open" -- and never 「順番」 after that.
CRISIS_FIRST_HIGH = (
    "話してくれてありがとうございます。あなたのことが心配です。\n"
    "いま危ないと感じたら、すぐに119（救急）へ電話してください。身の危険があるときは110（警察）へ。"
)
CRISIS_FIRST_IMMINENT = (
    "あなたの命が心配です。いま危険な状態なら、すぐに119（救急）へ電話してください。"
    "身の危険を感じるときは110（警察）へ。"
)
CRISIS_FIRST_FAMILY = (
    "知らせてくださってありがとうございます。ご家族のことがとても心配ですね。\n"
    "いま命の危険がある、もう何かをしてしまったときは、すぐに119（救急）へ電話してください。"
    "暴力などで身の危険があるときは110（警察）へ。"
)
CRISIS_FAMILY_WHAT_TO_DO = (
    "ご家族のためにいまできること：\n"
    "・できるだけひとりにしないで、そばにいてください\n"
    "・薬や刃物、ひもなど危ないものを、そっと遠ざけてください\n"
    "・責めたり説得したりせず、「心配している」と伝えてください\n"
    "・あなたひとりで抱えず、下の窓口や相談員を頼ってください"
)
CRISIS_LINES_HEADING = "いま電話で話せる窓口です。"
CRISIS_LINES_HEADING_FAMILY = "いまご家族が相談できる窓口です。"
CRISIS_QUEUED = "相談員に、優先してお返事するよう伝えました。このトークに書き続けてくださって大丈夫です。"
CRISIS_QUEUED_FAMILY = (
    "相談員に、優先してお返事するよう伝えました。ご家族のいまの様子や、お困りのことを、"
    "このトークに書いてください。"
)
CRISIS_OUTSIDE_HOURS = (
    "いまは相談員の受付時間外です（{hours}）。次の受付は{next_opening}からで、受付が始まったら"
    "いちばん先にお返事します。それまでも、このトークに書いてくださって大丈夫です。"
)
# An at-risk person writes again while waiting (at most once per few minutes).
AT_RISK_WAITING_ACK = (
    "メッセージを受け取りました。相談員ができるだけ早くお返事します。"
    "待っている間に危ないと感じたら、119（救急）へ電話してください。"
)
AT_RISK_WAITING_ACK_OUTSIDE_HOURS = (
    "メッセージを受け取りました。受付が始まったら、いちばん先にお返事します（次の受付は{next_opening}から）。"
    "いま危ないと感じたら、119（救急）へ電話してください。"
)
# An at-risk person types 終わり / やめる: the consultation stays open; only staff close it.
AT_RISK_END = (
    "メッセージありがとうございます。あなたのことが心配なので、このトークはもう少し開いたままにしておきますね。"
    "お返事はしなくても大丈夫です。話したくなったら、いつでもここに書いてください。"
)
# What the counselor sees in the chat (a system notice, never sent to the user).
_STAYS_OPEN = "リスクが高いため相談は開いたままです（終了は相談員が判断します）。"
NOTICE_AT_RISK_END = "相談者が「{word}」と送りました。" + _STAYS_OPEN
NOTICE_AT_RISK_BLOCKED = "相談者がアカウントをブロックしました。" + _STAYS_OPEN
NOTICE_MODERATE_ESCALATED = "注意レベルの発言が{count}回続いたため、高リスクに引き上げました。"
MODERATE_ESCALATED_CUE = "注意レベルの発言が続いている"
MODERATE_ACK = "話してくれてありがとうございます。つらい気持ちを抱えているのですね。よければ、このまま書いてください。"

# --- outside service hours -------------------------------------------------------------------------
OUTSIDE_HOURS = (
    "メッセージありがとうございます。いまは受付時間外です。\n"
    "受付時間は{hours}です。次の受付は{next_opening}からです。その頃にまた話しかけてください。\n"
    "命の危険があるときや緊急のときは、119（救急）・110（警察）へ連絡してください。"
)

# --- counselor handoff -------------------------------------------------------------------------------
COUNSELOR_JOINED = "相談員が入りました。ここからは相談員がお返事します。"
COUNSELOR_CHANGING = "担当の相談員が交代します。次の相談員が入るまで、少しだけお待ちください。"
CLOSING = (
    "今日はお話しくださってありがとうございました。この相談はいったん終わりにしますが、"
    "いつでも再開できます。また話したくなったら、メッセージを送ってください。"
)
USER_ENDED = "相談を終わりにしました。お話しくださってありがとうございました。いつでも再開できます。"
SURVEY = "よろしければ、今日の相談はいかがでしたか？（答えなくても大丈夫です）"
SURVEY_THANKS = "お答えありがとうございました。"
COMMAND_END = ("終了", "おわり", "終わり")

# --- groups and rooms ------------------------------------------------------------------------------------
# Not used for replies (the bot says nothing in groups); kept for the log.

# --- labels: the codes stored in the database and what people see -------------------------------------
WHO_LABELS = {"self": "本人", "family": "家族", "other": "その他"}
AGE_LABELS = {
    "10s": "10代", "20s": "20代", "30s": "30代", "40s": "40代", "50plus": "50代以上", "no_answer": "答えたくない",
}
CONCERN_LABELS = {
    "work": "仕事・就労", "family": "家族関係", "money": "生活・お金", "health": "心や体の調子",
    "belonging": "居場所・仲間", "other": "その他",
}
AREA_NO_ANSWER = "答えたくない"
AREA_OTHER = "その他の地域"
SURVEY_LABELS = {"good": "よかった", "ok": "ふつう", "bad": "よくなかった"}

# --- the evening clock (issue 10) ----------------------------------------------------------------------
# Outside hours: a quick reply under the closed-hours reply; tapping it asks for one message at opening.
NOTIFY_ON_OPENING = "開いたら知らせて"
NOTIFY_ON_OPENING_OK = (
    "わかりました。次の受付（{next_opening}）が始まったら、このトークでお知らせしますね。"
    "それまでに書きたいことがあれば、ここに送ってくださって大丈夫です。"
)
NOTIFY_ON_OPENING_NOW_OPEN = "いまは受付時間中です。よければ、このままメッセージを送ってください。"
OPENING_NOTICE = (
    "「つなぐ」の受付が始まりました（今日は{closes}まで）。\n"
    "話したくなったら、いつでもメッセージを送ってください。"
)
START_CONSULTATION = "相談する"  # the quick reply under the opening notice: sends this word, which starts the intake
# 15 minutes before the end, to everyone waiting.
CLOSING_NOTICE = (
    "お待たせしていてごめんなさい。今日の受付は{closes}までです。\n"
    "それまでに相談員がお返事できなかったときは、いったん受付を終えて、このトークでお知らせします。"
    "次の受付は{next_opening}からです。"
)
CLOSING_NOTICE_AT_RISK = (
    "今日の相談員の受付は{closes}までです。お返事が間に合わなくても、このトークは開いたままにしておき、"
    "次の受付（{next_opening}）でいちばん先にお返事します。\n"
    "いま危ないと感じたら、すぐに119（救急）へ電話してください。"
)
# At closing, to each consultation still waiting (never to one at risk: that one stays open).
QUEUE_CLOSED = (
    "今日の受付時間が終わりました。お待ちいただいたのに、お返事できずにごめんなさい。\n"
    "次の受付は{next_opening}からです（受付時間：{hours}）。そのときにまたメッセージを送ってください。"
)
QUEUE_CLOSED_INTAKE = (
    "今日の受付時間が終わったので、いったんここで終わりにしますね。\n"
    "次の受付は{next_opening}からです（受付時間：{hours}）。そのときにまたメッセージを送ってください。"
)
LINES_TONIGHT_HEADING = "今夜つらくなったときに、電話で話せる窓口です。"
LINES_TONIGHT_EMERGENCY = "命の危険があるときや緊急のときは、119（救急）・110（警察）へ。"

GREETING_CLOSED_NOW = "いまは受付時間外です。次の受付は{next_opening}からです。"
# What the counselor sees in the chat (system notices, never sent to the user).
NOTICE_QUEUE_CLOSED = "受付時間が終わったため、自動で受付を終えました（相談者にお知らせ済み）。"
NOTICE_IDLE = "相談者から{minutes}分以上お返事がありません。このまま終える場合は「中断/離脱」で終了できます。"
NOTICE_IDLE_AT_RISK = (
    "相談者から{minutes}分以上お返事がありません（高リスク）。終了は慎重に判断し、必要なら緊急対応を検討してください。"
)
NOTICE_UNDELIVERED = "相談者へのメッセージを届けられませんでした。コーディネーターに通知しました。"

# --- the rich menu (issue 10) ----------------------------------------------------------------------------
MENU_CONSULT = "相談する"
MENU_HOURS = "相談できる時間"
MENU_EMERGENCY = "緊急の連絡先"
MENU_FAMILY = "家族の方へ"
MENU_CHAT_BAR = "メニュー"
HOURS_INFO_OPEN = "相談できる時間は{hours}です。いまは受付中です（今日は{closes}まで）。"
HOURS_INFO_CLOSED = "相談できる時間は{hours}です。いまは受付時間外で、次の受付は{next_opening}からです。"
CONSULT_ALREADY_OPEN = "相談は続いています。このままメッセージを送ってください。"
EMERGENCY_INFO_FIRST = (
    "命の危険があるとき、けがをしたとき、薬をたくさん飲んだときは、すぐに119（救急）へ電話してください。"
    "暴力などで身の危険を感じるときは110（警察）へ。"
)
EMERGENCY_INFO_HEADING = "いま電話で話せる窓口です。"
FAMILY_INFO = (
    "ご家族の方へ\n"
    "ひきこもりの状態にあるご家族のことで悩んでいる方も、ここで相談できます。"
    "ご本人が相談に来られなくても大丈夫です。\n"
    "・ご家族だけで抱え込まず、まずはお気持ちを聞かせてください\n"
    "・地域の家族会や、ひきこもり地域支援センターをご紹介できます\n"
    "・お名前や連絡先は聞きません\n"
    "相談するときは、メニューの「相談する」を押すか、メッセージを送ってください。"
)
