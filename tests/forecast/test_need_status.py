"""The needs loop's core: statuses with an audit trail, dismissed needs back only when they grow, before/after."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from forecast.need_status import NeedStatus, apply_statuses, before_after, change_status, load_statuses, status_log
from needcast.settings import Settings
from store.engine import get_engine


def test_dismissed_needs_come_back_only_when_they_grow_again(settings: Settings) -> None:
    engine = get_engine(settings.db_url)
    need = {"topic_id": 4, "segment": "pensioners", "recent_count": 20, "mean_rating": 2.1}
    other = {"topic_id": 5, "segment": "pensioners", "recent_count": 7}
    change_status(engine, 4, "pensioners", "planner:ab12cd34", NeedStatus.dismissed, comment="шум", item=need)
    statuses = load_statuses(engine)
    assert [i["topic_id"] for i in apply_statuses([need, other], statuses)] == [5]
    grown = apply_statuses([{**need, "recent_count": 30}, other], statuses)
    assert [(i["topic_id"], i["status"], i["regrown"]) for i in grown] == [(4, "dismissed", True), (5, "new", False)]
    change_status(engine, 4, "pensioners", "planner:ab12cd34", owner="Иванова")
    trail = status_log(engine, 4, "pensioners")
    assert [(e["status"], e["owner"], e["comment"], e["by"]) for e in trail] == [
        ("dismissed", None, "шум", "planner:ab12cd34"), (None, "Иванова", None, "planner:ab12cd34")]
    assert load_statuses(engine)[(4, "pensioners")]["status"] == "dismissed"  # an owner change keeps the status


def test_volume_before_and_after_a_resolution_is_weekly() -> None:
    weeks = pd.date_range("2026-01-05", periods=12, freq="W-MON")
    volumes = pd.DataFrame({"topic_id": 1, "segment": "youth", "period": weeks,
                            "count": [10] * 8 + [4] * 4})
    result = before_after(volumes, 1, "youth", datetime(2026, 3, 2))  # the 9th week's Monday
    assert result == {"weekly_before": 10.0, "weekly_after": 4.0, "weeks_after": 4}
    # Data ending before the resolution: "before" is the last weeks known, nothing after yet.
    late = before_after(volumes, 1, "youth", datetime(2026, 12, 1))
    assert late["weekly_after"] is None and late["weekly_before"] == 7.0
