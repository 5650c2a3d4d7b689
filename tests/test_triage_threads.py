"""Triage runs in several event workers at once: each text gets its level, whatever the others do.
(A SudachiPy tokenizer shared between threads raises "Tokenizer is already in use", and the event
holding a crisis text would fail until a retry.)"""

from __future__ import annotations

import threading

from flows import triage

CRISIS = "もう限界です。今夜薬を全部飲んで死にます"


def test_eight_threads_analysing_at_once_never_fail_and_agree_with_one_thread():
    texts = [f"{i}日ぶりに外に出られました。もう死にたいと思っていたけど" for i in range(300)]
    expected = [triage.tokenize(t) for t in texts]
    errors: list[BaseException] = []
    results: list[list] = []

    def work() -> None:
        try:
            results.append([triage.tokenize(t) for t in texts])
        except BaseException as exc:  # noqa: BLE001 - what an event worker would meet
            errors.append(exc)

    for _trial in range(3):
        triage.tokenize.cache_clear()  # every thread has to run the analyzer itself, at the same time
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert len(results) == 24 and all(r == expected for r in results)


def test_a_crisis_text_assessed_in_many_threads_at_once_is_a_crisis_in_each():
    triage.tokenize.cache_clear()
    triage.normalize.cache_clear()
    levels: list[object] = []
    threads = [threading.Thread(target=lambda: levels.append(triage.assess(CRISIS).level)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(levels) == 8 and set(levels) <= {triage.RiskLevel.HIGH, triage.RiskLevel.IMMINENT}
