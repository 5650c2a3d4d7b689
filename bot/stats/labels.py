"""What coordinators read on the statistics pages: every label in one place (codes live in storage)."""

from flows import texts

CATEGORY_LABELS = {"family_association": "家族会", "regional_center": "地域支援センター", "support_station": "サポステ",
                   "peer_group": "当事者会", "ibasho": "居場所", "medical": "医療", "other": "その他"}
MILESTONE_LABELS = {"group_program": "グループプログラムに参加", "family_association": "家族会につながった",
                    "support_station": "サポステに登録", "job_search": "求職活動を始めた",
                    "next_step": "次の一歩を決めた"}
NEXT_STEP_LABELS = {"work": "就労", "school": "就学", "training": "職業訓練", "other": "その他"}
WHO_LABELS = {**texts.WHO_LABELS, "unknown": "未回答"}
AGE_LABELS = {**texts.AGE_LABELS, "unknown": "未回答"}
CONCERN_LABELS = {**texts.CONCERN_LABELS, "unknown": "未回答"}
SURVEY_LABELS = texts.SURVEY_LABELS
CRISIS_LABELS = {"moderate": "注意", "high": "高リスク", "imminent": "緊急"}
WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
FRIEND_LABELS = {"follows": "友だち追加", "new_follows": "うち初めて", "refollows": "うち再追加（ブロック後）",
                 "blocks": "ブロック", "net": "純増", "cumulative": "期末の友だち数"}
MILESTONE_RECORDED = "記録しました。"
MILESTONE_INVALID = "記録できませんでした。項目と日付を確かめてください。"
# why a milestone was refused, per input (shown next to it in the workspace)
MILESTONE_ERRORS = {"kind": "マイルストーンを一覧から選んでください。",
                    "next_step": "「次の一歩を決めた」のときは、次の一歩の内容を選んでください。",
                    "occurred_on": "日付は今日までの日付（年-月-日）で入力してください。",
                    "body": "送信内容を読み取れませんでした。ページを読み込み直してください。"}


def area(code: str) -> str:
    from flows.intake import area_label

    return "未回答" if code == "unknown" else area_label(code)
