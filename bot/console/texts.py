"""The console's own Japanese messages (login and limits), in one place for review."""

LOGIN_WRONG = "ログインIDかパスワードが違います。"
LOGIN_WAIT = "ログインの失敗が続いたため、{seconds}秒ほど待ってからもう一度お試しください。"
RATE_LIMITED = "操作が多すぎます。少し待ってからもう一度お試しください。"

# --- the evening clock (issue 10) ---------------------------------------------------------------------
DEAD_LETTERS_HEADING = "届けられなかったメッセージがあります"
DEAD_LETTERS_HELP = "LINEが受け取らなかったメッセージです。相談者の状況を確認し、必要なら別の方法で対応してください。"
DEAD_LETTER_ACK = "確認しました"
IDLE_PROMPT = "相談者からのお返事が途絶えています。"
IDLE_CLOSE = "中断/離脱として終了する"
# --- routing (issue 10): why a consultation is in a queue, as the chat view shows it ---------------------
ROUTING_KINDS = {"routed": "振り分け", "overflow": "全団体へ", "at_risk": "高リスク：全員へ", "transfer": "引き継ぎ",
                 "same_counselor": "前回の相談員", "taken": "担当"}
ROUTING_REASONS = {
    "rule_matched": "ルール「{rule}」により{org}へ",
    "none_available": "ルール「{rule}」の団体がいま受けられないため、共有キューへ",
    "no_rule": "当てはまるルールがないため、共有キューへ",
    "overflow_wait": "待ち時間が長くなったため、すべての団体の相談員に表示",
    "at_risk_high": "高リスクのため、すべての相談員に表示",
    "at_risk_imminent": "緊急のため、すべての相談員に表示",
    "transfer": "{staff}が{org}へ引き継ぎ",
    "same_counselor": "相談者の希望で、前回の相談員（{staff}）へ",
    "same_counselor_unavailable": "前回の相談員を希望（いまは対応できないため、そのまま）",
    "from_shared": "共有キューから{org}の{staff}が担当",
    "from_overflow": "全団体表示から{org}の{staff}が担当",
    "from_member": "{org}の{staff}が担当",
    "at_risk": "高リスクのため{org}の{staff}が担当",
}
CANDIDATE_OUTCOMES = {"taken": "受付", "not_staffed": "時間外", "full": "満員", "inactive": "休止中",
                      "does_not_take": "対象外", "missing": "未登録", "left": "元の団体"}
QUEUE_SHARED = "共有"
QUEUE_OVERFLOW = "全団体"
QUEUE_AT_RISK = "全員"
QUEUE_PREFERRED = "指名"
QUEUE_TRANSFERRED = "引き継ぎ"

# --- organizations page (admins) --------------------------------------------------------------------------
ORG_KIND_LABELS = {"family_association": "家族会", "npo": "NPO", "regional_center": "地域支援センター",
                   "youth_support_station": "サポステ", "peer_group": "当事者会・ピア", "ibasho": "居場所",
                   "other": "その他", "consortium": "共有（コンソーシアム）"}
ORG_SAVED = "保存しました。"
ORG_ACTIVATED = "受付を再開しました。"
ORG_DEACTIVATED = "休止にしました（新しい相談は振り分けられません）。"
ORG_PROBLEMS = "保存できませんでした。次の点を直してください。"
