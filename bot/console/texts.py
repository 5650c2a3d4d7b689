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
