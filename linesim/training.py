"""Training scenarios for counselor practice: scripted users who go through intake and then write on
their own with realistic pauses. They are plain data; one runner plays any of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from linesim.platform import LinePlatform


@dataclass(frozen=True)
class Scenario:
    slug: str
    title: str  # shown on the simulator page
    display_name: str
    steps: tuple[tuple[float, str], ...]  # (seconds to wait first, what the user writes)


SCENARIOS = (
    Scenario("parent-of-40", "40歳の息子を心配する母親", "練習：母親", (
        (2, "こんばんは。息子のことで相談したくて"), (3, "同意して進む"), (2, "家族"), (2, "40代"),
        (3, "札幌市"), (2, "家族関係"),
        (6, "40歳の息子が15年ほど部屋からほとんど出てきません。私たちも70代になり、この先が心配です。"),
        (25, "食事は部屋の前に置いています。話しかけても返事がないことが多いです。"),
        (40, "父親は厳しく言うのですが、かえって閉じこもってしまう気がして…"),
        (60, "家族会というものがあると聞きました。どんなところでしょうか。"),
    )),
    Scenario("afraid-of-phone", "電話がこわい20代、仕事をしたい", "練習：20代", (
        (2, "はじめまして"), (3, "同意して進む"), (2, "本人"), (2, "20代"), (3, "答えたくない"),
        (2, "仕事・就労"),
        (8, "働きたいけど、電話がこわくて応募の連絡ができません。"),
        (30, "前のバイトで電話対応がうまくできなくて、それから外に出るのもしんどくなりました"),
        (45, "文字なら話せます。ここなら少し書けそうです"),
    )),
    Scenario("discloses-intent", "途中で希死念慮を打ち明ける人", "練習：打ち明ける人", (
        (2, "相談してもいいですか"), (3, "同意して進む"), (2, "本人"), (2, "30代"), (3, "旭川市"),
        (2, "心や体の調子"),
        (8, "夜になると気持ちが落ちて、何もできなくなります"),
        (35, "家族にも迷惑をかけているし、正直もう死にたいと思うことがあります"),
        (40, "今日は薬を飲まずにためてあります"),
    )),
)


def scenario(slug: str) -> Scenario | None:
    return next((s for s in SCENARIOS if s.slug == slug), None)


class Runner:
    """Plays a scenario through the emulator: follow, then each step after its pause.

    `sleep` is injected so tests run without waiting; `before_first_event` lets the service mark the
    user as a training user before it ever sees them.
    """

    def __init__(self, platform: LinePlatform, *, sleep: Callable[[float], None] = time.sleep,
                 before_first_event: Callable[[str], None] | None = None, speed: float = 1.0) -> None:
        self.platform = platform
        self.sleep = sleep
        self.before_first_event = before_first_event
        self.speed = speed

    def run(self, sc: Scenario) -> str:
        user_id = self.platform.add_user(sc.display_name)
        if self.before_first_event:
            self.before_first_event(user_id)
        self.platform.follow(user_id)
        for pause, text in sc.steps:
            self.sleep(pause / self.speed)
            self.platform.send_text(user_id, text)
        return user_id

    def start(self, sc: Scenario) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(sc,), name=f"training:{sc.slug}", daemon=True)
        thread.start()
        return thread
