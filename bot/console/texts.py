"""The console's own Japanese messages, in one place for review: login and limits, what every input is
called, validation errors (pydantic's English never reaches a counselor), and the audit log's actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LOGIN_WRONG = "ログインIDかパスワードが違います。"
LOGIN_WAIT = "ログインの失敗が続いたため、{seconds}秒ほど待ってからもう一度お試しください。"
RATE_LIMITED = "操作が多すぎます。少し待ってからもう一度お試しください。"

# --- answers of the API, as the console shows them ---------------------------------------------------
LOGIN_REQUIRED = "ログインしてください（ログインの有効期限が切れたか、アカウントが停止されました）。"
FORBIDDEN = "この操作をする権限がありません。"
NOT_FOUND = "見つかりません。"
BAD_JSON = "送信内容を読み取れませんでした。ページを読み込み直してください。"
CSRF = "ページの有効期限が切れました。ページを読み込み直してから、もう一度お試しください。"
TOO_LARGE = "送信内容が大きすぎます。"
METHOD = "この操作はできません。"
NOT_YOURS = "担当している相談だけ終了できます。"
TRANSFER_TO = "引き継げる相談員のログインIDを入力してください（同じ団体で、いま受け入れられる人）。"
CLOSED_READ_ONLY = "終了した相談は閲覧のみです。続けるときは理由を書いて再開してください。"
CANNED_REQUIRED = "題名と本文を入力してください。"
TRANSFER_ONE_TARGET = "引き継ぐ相談員のログインIDか、引き継ぎ先の団体のどちらか一つを指定してください。"
UNKNOWN_MEMBER = "参加団体を一覧から選んでください。"

# --- what each input is called, for the messages below -------------------------------------------------
FIELD_LABELS = {
    "text": "本文", "title": "題名", "disposition": "終了の区分", "referral": "紹介先", "to": "引き継ぎ先",
    "note": "引き継ぎメモ", "to_organization": "引き継ぎ先の団体", "referral_org": "案内カードを送る団体",
    "reason": "理由", "message_id": "既読の位置", "label_id": "ラベル", "on": "ラベル",
    "scope": "種類", "name": "名前", "login": "ログインID", "display_name": "表示名", "role": "役割",
    "organization": "団体", "max_active": "同時に担当できる件数", "password": "パスワード",
    "password_again": "パスワード（確認）", "current_password": "いまのパスワード", "new_password": "新しいパスワード",
    "kind": "マイルストーン", "occurred_on": "日付", "body": "送信内容", "staff": "職員", "consultation": "相談番号",
    "action": "操作", "page": "ページ",
}

_BY_TYPE = {
    "missing": "{field}を入力してください。",
    "string_too_short": "{field}を入力してください。",
    "string_too_long": "{field}は{max_length}文字以内にしてください。",
    "string_pattern_mismatch": "{field}に使えない文字が含まれています。",
    "too_long": "{field}が多すぎます。",
    "string_type": "{field}は文字で入力してください。",
    "int_type": "{field}は数字で入力してください。",
    "int_parsing": "{field}は数字で入力してください。",
    "bool_type": "{field}の指定が正しくありません。",
    "greater_than_equal": "{field}は{ge}以上にしてください。",
    "less_than_equal": "{field}は{le}以下にしてください。",
    "literal_error": "{field}を一覧から選んでください。",
    "enum": "{field}を一覧から選んでください。",
    "model_type": "送信内容の形式が正しくありません。",
}
CONTROL_CHARACTERS = "{field}に使えない文字（制御文字）が含まれています。"
INVALID = "{field}の内容が正しくありません。"


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, "入力")


def validation_messages(errors: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """pydantic's errors as {field: a Japanese message}, the first error of each field; never what was sent."""
    out: dict[str, str] = {}
    for e in errors:
        loc = e.get("loc") or ()
        name = str(loc[0]) if loc else "body"
        if name in out:
            continue
        ctx = e.get("ctx") or {}
        kind = e.get("type", "")
        if kind == "value_error" and "control" in str(ctx.get("error", "")):
            template = CONTROL_CHARACTERS
        elif kind == "string_too_short" and int(ctx.get("min_length", 1)) > 1:
            template = "{field}は{min_length}文字以上にしてください。"
        else:
            template = _BY_TYPE.get(kind, INVALID)
        try:
            out[name] = template.format(field=field_label(name), **{k: v for k, v in ctx.items() if k != "field"})
        except (KeyError, IndexError):
            out[name] = INVALID.format(field=field_label(name))
    return out


# --- passwords (storage.staff says why, in codes) -------------------------------------------------------
PASSWORD_PROBLEMS = {
    "short": "パスワードは{min}文字以上にしてください。",
    "long": "パスワードは{max}文字以内にしてください。",
    "common": "よく使われるパスワードです。自分だけの長いフレーズにしてください。",
}
PASSWORD_MISMATCH = "確認用のパスワードが一致しません。"
PASSWORD_CURRENT_WRONG = "いまのパスワードが違います。"
PASSWORD_CHANGED = "パスワードを変更しました。ほかの端末のログインは終了しました。"
LOGIN_TAKEN = "このログインIDはすでに使われています。"
LOGIN_FORMAT = "ログインIDは半角の英数字と - _ . で、3〜80文字にしてください。"
UNKNOWN_ORGANIZATION = "団体を一覧から選んでください。"
UNKNOWN_ROLE = "役割を一覧から選んでください。"
NOT_YOURSELF = "自分自身のアカウントには、この操作はできません。"
LABEL_TAKEN = "同じ名前のラベルがすでにあります。"

ROLE_LABELS = {"counselor": "相談員", "coordinator": "コーディネーター", "consortium": "コンソーシアム統括",
               "admin": "管理者"}

# --- the audit log: what each action is called ---------------------------------------------------------
ACTION_LABELS = {
    "view": "相談を開いた", "watch": "見守りで開いた", "claim": "担当した", "message": "返信した",
    "note": "メモを追加", "supervisor_note": "スーパーバイザーのメモ", "close": "相談を終了", "reopen": "相談を再開",
    "transfer": "引き継いだ", "take_over": "引き取った", "label": "ラベルを変更", "milestone": "マイルストーンを記録",
    "canned_add": "定型文を追加", "canned_edit": "定型文を変更", "canned_delete": "定型文を削除",
    "label_add": "ラベルを作成", "label_edit": "ラベルを変更（団体）",
    "login": "ログイン", "login_failed": "ログイン失敗", "login_throttled": "ログインを一時制限",
    "logout": "ログアウト",
    "password_change": "自分のパスワードを変更", "staff_add": "職員を追加", "staff_disable": "職員を停止",
    "staff_enable": "職員を再開", "staff_password": "パスワードを再設定", "staff_tokens_revoke": "APIトークンを失効",
    "staff_edit": "職員の設定を変更", "stats_export": "統計を書き出し", "audit_view": "監査ログを閲覧",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)

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
