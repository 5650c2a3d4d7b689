"""The console's own Japanese messages (login and limits), in one place for review."""

LOGIN_WRONG = "ログインIDかパスワードが違います。"
LOGIN_WAIT = "ログインの失敗が続いたため、{seconds}秒ほど待ってからもう一度お試しください。"
RATE_LIMITED = "操作が多すぎます。少し待ってからもう一度お試しください。"
