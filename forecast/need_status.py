"""The needs loop: where each emerging need (a topic in a segment) stands in the planners' work, and its trail.

Statuses: new -> acknowledged -> in_work -> resolved, or dismissed at any point (and back). Every change and
comment is logged with who made it and when. A dismissed need is no longer reported unless it grows again
(its recent volume reaches `REGROWTH` times the volume it had when dismissed). After `resolved`, the need's
weekly volume before and after the resolution date is compared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import pandas as pd
from sqlalchemy import Engine, select

from store import tables

__all__ = ["REGROWTH", "NeedStatus", "apply_statuses", "before_after", "change_status", "load_statuses",
           "status_log"]

REGROWTH = 1.5
"""A dismissed need is reported again once its recent volume is this many times the volume at dismissal."""


class NeedStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    in_work = "in_work"
    resolved = "resolved"
    dismissed = "dismissed"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def load_statuses(engine: Engine, segment: str | None = None) -> dict[tuple[int, str], dict]:
    """(topic_id, segment) -> the stored status row (needs with no row are `new`)."""
    t = tables.need_status
    query = select(t) if segment is None else select(t).where(t.c.segment == segment)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return {(int(r["topic_id"]), r["segment"]): dict(r) for r in rows}


def change_status(engine: Engine, topic_id: int, segment: str, by: str, status: NeedStatus | None = None,
                  owner: str | None = None, comment: str | None = None, item: dict | None = None) -> dict:
    """Set a need's status and/or owner and/or add a comment; logs the change. Returns the stored row.

    `item` is the need as currently served (its `recent_count` and `mean_rating` are kept when it is resolved
    or dismissed, to tell regrowth and to compare after).
    """
    t, log = tables.need_status, tables.need_status_log
    now = _now()
    with engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.topic_id == topic_id, t.c.segment == segment)).mappings().first()
        values = dict(row) if row else {"topic_id": topic_id, "segment": segment, "status": NeedStatus.new.value,
                                        "owner": None, "resolved_at": None, "recent_count_at_change": None,
                                        "mean_rating_at_change": None}
        if status is not None:
            values["status"] = status.value
            if status in (NeedStatus.resolved, NeedStatus.dismissed):
                values["recent_count_at_change"] = int(item["recent_count"]) if item else None
                values["mean_rating_at_change"] = item.get("mean_rating") if item else None
            values["resolved_at"] = now if status is NeedStatus.resolved else None
        if owner is not None:
            values["owner"] = owner.strip() or None
        values.update(updated_at=now, updated_by=by)
        if row:
            conn.execute(t.update().where(t.c.topic_id == topic_id, t.c.segment == segment).values(**values))
        else:
            conn.execute(t.insert().values(**values))
        conn.execute(log.insert().values(topic_id=topic_id, segment=segment, at=now, by=by,
                                         status=None if status is None else status.value,
                                         owner=owner, comment=(comment or "").strip() or None))
    return values


def status_log(engine: Engine, topic_id: int, segment: str) -> list[dict]:
    """The audit trail of one need, oldest first."""
    log = tables.need_status_log
    with engine.connect() as conn:
        rows = conn.execute(select(log).where(log.c.topic_id == topic_id, log.c.segment == segment)
                            .order_by(log.c.id)).mappings().all()
    return [{"at": r["at"].isoformat(timespec="seconds"), "by": r["by"], "status": r["status"], "owner": r["owner"],
             "comment": r["comment"]} for r in rows]


def before_after(volumes: pd.DataFrame, topic_id: int, segment: str, resolved_at: datetime,
                 weeks: int = 8) -> dict:
    """Mean weekly feedback volume of the need in the `weeks` weeks before and after `resolved_at`.

    Weeks start on Mondays; a week counts as after when it starts on or after `resolved_at`.
    `volumes` is the served snapshot's (topic_id, segment, period, count); `after` is None until a full period
    after the resolution has been counted.
    """
    part = volumes[(volumes["topic_id"] == topic_id) & (volumes["segment"] == segment)]
    weekly = part.set_index("period")["count"].resample("W-MON", label="left", closed="left").sum() \
        if len(part) else pd.Series(dtype=float)
    moment = pd.Timestamp(resolved_at)
    # "Before" is the latest `weeks` weeks known at the resolution (the data may end earlier than that day).
    known = min(moment, weekly.index.max() + pd.Timedelta(weeks=1)) if len(weekly) else moment
    before = weekly[(weekly.index < known) & (weekly.index >= known - pd.Timedelta(weeks=weeks))]
    after = weekly[(weekly.index >= moment) & (weekly.index < moment + pd.Timedelta(weeks=weeks))]
    return {"weekly_before": None if before.empty else round(float(before.mean()), 2),
            "weekly_after": None if after.empty else round(float(after.mean()), 2),
            "weeks_after": len(after)}


def apply_statuses(items: list[dict], statuses: dict[tuple[int, str], dict],
                   include_dismissed: bool = False) -> list[dict]:
    """Emerging-need items with `status` and `owner`; dismissed ones dropped unless they grew again."""
    out = []
    for item in items:
        row = statuses.get((int(item["topic_id"]), item["segment"]))
        status = row["status"] if row else NeedStatus.new.value
        regrown = False
        if status == NeedStatus.dismissed.value:
            at_change = row.get("recent_count_at_change") or 0
            regrown = item.get("recent_count") is not None and item["recent_count"] >= REGROWTH * max(at_change, 1)
            if not regrown and not include_dismissed:
                continue
        out.append({**item, "status": status, "owner": row.get("owner") if row else None,
                    "regrown": regrown, "status_changed_at": row["updated_at"].isoformat(timespec="seconds")
                    if row else None})
    return out
