"""The worker's schedule: cron expressions from the settings that queue a refresh, a retraining and a prune.

Expressions are standard crontab (minute hour day month weekday; weekday 0 or 7 = Sunday).

APScheduler 3 (`BackgroundScheduler` with `CronTrigger.from_crontab`) parses and fires standard crontab
expressions in a named time zone, daylight-saving changes included; it is small, long maintained and needs no
broker. Its own job stores are not used: a firing only *queues* a job in needcast's table (jobs.queue), so what
is durable, single-flight and visible to the API is the one queue, and several workers firing the same schedule
queue one train job (the single-flight index) and one waiting refresh (joined), not several.
Task queues with their own schedulers (procrastinate, huey) were not chosen: procrastinate runs on PostgreSQL
only and huey needs Redis or its own storage, while needcast runs on SQLite by default and PostgreSQL in
production with one job table for both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

__all__ = ["Schedule", "ScheduleError", "parse_schedule", "start_schedule"]

log = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """A cron expression or time zone in the settings is not valid; the message names the setting."""


@dataclass(frozen=True)
class Schedule:
    """Which job kind is queued on which trigger."""

    triggers: dict[str, CronTrigger]

    def next_runs(self) -> dict[str, str]:
        """The next firing of each kind, ISO 8601, for the worker's start-up line."""
        from datetime import datetime

        out = {}
        for kind, trigger in self.triggers.items():
            first = trigger.get_next_fire_time(None, datetime.now(trigger.timezone))
            out[kind] = first.isoformat(timespec="minutes") if first else "never"
        return out


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """The weekday field with crontab's numbers (0 or 7 = Sunday) as names: APScheduler 3 counts 0 = Monday."""
    out = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if not any(c.isdigit() for c in base) and not (base == "*" and step):
            out.append(part)  # `*`, names, name ranges
            continue
        low, _, high = ("0-6" if base == "*" else base).partition("-")
        days = range(int(low), int(high or (6 if step else low)) + 1, int(step or 1))
        out.append(",".join(dict.fromkeys(_DAYS[d % 7] for d in days)))
    return ",".join(out)


def _crontab(expression: str) -> str:
    fields = expression.split()
    if len(fields) == 5:
        fields[4] = _crontab_weekdays(fields[4])
    return " ".join(fields)


def parse_schedule(refresh_cron: str, retrain_cron: str, timezone: str | None = None,
                   prune_cron: str = "") -> Schedule:
    """Triggers of the non-empty expressions; raises `ScheduleError` naming the bad setting."""
    triggers: dict[str, CronTrigger] = {}
    for kind, expression, setting in (("refresh", refresh_cron, "NEEDCAST_REFRESH_CRON"),
                                      ("train", retrain_cron, "NEEDCAST_RETRAIN_CRON"),
                                      ("prune", prune_cron, "NEEDCAST_PRUNE_CRON")):
        if not expression.strip():
            continue
        try:
            triggers[kind] = CronTrigger.from_crontab(_crontab(expression.strip()), timezone=timezone)
        except (ValueError, LookupError) as exc:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
            what = "NEEDCAST_SCHEDULE_TIMEZONE" if isinstance(exc, LookupError) else setting
            raise ScheduleError(f"{what}: {exc}") from exc
    return Schedule(triggers)


def start_schedule(schedule: Schedule, queue_job: Callable[[str], None]) -> BackgroundScheduler | None:
    """Fire `queue_job(kind)` on each trigger from a background thread; None when nothing is scheduled."""
    if not schedule.triggers:
        return None
    scheduler = BackgroundScheduler(timezone=next(iter(schedule.triggers.values())).timezone)
    for kind, trigger in schedule.triggers.items():
        # coalesce: after a sleep or downtime, missed firings make one job, not a burst.
        scheduler.add_job(queue_job, trigger, args=[kind], id=f"needcast-{kind}", coalesce=True,
                          misfire_grace_time=3600, max_instances=1)
    scheduler.start()
    log.info("schedule started: %s", schedule.next_runs())
    return scheduler
