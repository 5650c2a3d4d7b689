"""APScheduler 3 in exactly one process: `tsunagu serve` (default) or `tsunagu scheduler`.

A job store must not be shared by several running schedulers, and several web workers would each
start one; so jobs are plain sweeps (safe to run twice) and only one process schedules them.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.jobs import JOBS
from bot.services import Services

log = logging.getLogger(__name__)


def _safe(name: str, fn, svc: Services):  # noqa: ANN001, ANN202
    def run() -> None:
        try:
            count = fn(svc)
            if count:
                log.info("job %s: %s", name, count)
        except Exception:  # one failing sweep must not stop the others
            log.exception("job %s failed", name)

    return run


def build_scheduler(svc: Services, *, blocking: bool = False) -> BackgroundScheduler | BlockingScheduler:
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    for name, (fn, seconds) in JOBS.items():
        scheduler.add_job(_safe(name, fn, svc), "interval", seconds=seconds, id=name, name=name)
    return scheduler
