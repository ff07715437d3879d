"""Small-cell suppression: no statistic, topic or example of fewer than `min_cell` respondents leaves the service.

With one feedback in a segment, its "mean rating", its topic label and its example are that one person's.
Respondents are counted as feedback texts (the data carry no person id). A withheld value is `None` (JSON
`null`) and its item carries `"suppressed": true`; ids, segment codes and dates stay, so an item can still be
referred to. Request volumes (usage counts) are counts of requests, not of respondents, and are kept.
Applied when answering, so the setting (`NEEDCAST_MIN_CELL`) acts without a refresh. Each call reports how many
items it withheld to the observers added with `on_suppressed` (the API's `needcast_suppressed_cells_total`), so
this room stays free of the metrics library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["hidden_need_labels", "on_suppressed", "suppress_emerging", "suppress_segments", "suppress_topics"]

_observers: list[Callable[[str, int], None]] = []


def on_suppressed(observer: Callable[[str, int], None]) -> None:
    """Call `observer(kind, n)` whenever `n` items of `kind` (needs, topics, segments, need_labels) are withheld."""
    if observer not in _observers:
        _observers.append(observer)


def _report(kind: str, withheld: int) -> None:
    if withheld:
        for observer in _observers:
            observer(kind, withheld)


def _reported(kind: str, items: list[dict]) -> list[dict]:
    _report(kind, sum(1 for item in items if item.get("suppressed")))
    return items

_NEED_HIDDEN = ("label", "keywords", "recent_count", "baseline_count", "growth", "score", "mean_rating", "p_value",
                "q_value", "examples")
_TOPIC_HIDDEN = ("label", "keywords", "count", "segments", "volume")


def _cell(item: dict) -> int:
    return int(item.get("recent_count") or 0) + int(item.get("baseline_count") or 0)


def suppress_emerging(items: Iterable[dict], min_cell: int) -> list[dict]:
    """Emerging needs whose segment-topic cell (recent + baseline feedback) is under `min_cell`, withheld."""
    out = []
    for item in items:
        if _cell(item) < min_cell:
            item = {**item, **dict.fromkeys(_NEED_HIDDEN), "suppressed": True, "min_cell": min_cell}
        else:
            item = {**item, "suppressed": False}
        out.append(item)
    return _reported("needs", out)


def suppress_topics(items: Iterable[dict], min_cell: int) -> list[dict]:
    """Topics under `min_cell` feedback withheld whole; in the others, small segment and period counts are null."""
    out = []
    for item in items:
        if int(item.get("count") or 0) < min_cell:
            out.append({**item, **dict.fromkeys(_TOPIC_HIDDEN), "suppressed": True, "min_cell": min_cell})
            continue
        segments = {s: (c if c >= min_cell else None) for s, c in item.get("segments", {}).items()}
        volume = [{**v, "count": None, "suppressed": True} if 0 < v["count"] < min_cell else v
                  for v in item.get("volume", [])]
        suppressed = any(c is None for c in segments.values()) or any(v.get("suppressed") for v in volume)
        out.append({**item, "segments": segments, "volume": volume, "suppressed": suppressed})
    return _reported("topics", out)


def suppress_segments(items: Iterable[dict], min_cell: int) -> list[dict]:
    """Segment summaries: ratings and the feedback count withheld under `min_cell` feedback (all time or recent)."""
    out = []
    for item in items:
        item = dict(item)
        count = int(item.get("feedback_count") or 0)
        recent = item.get("recent_feedback_count")
        hidden = False
        if 0 < count < min_cell:
            item.update(feedback_count=None, mean_rating=None, recent_mean_rating=None)
            hidden = True
        elif recent is not None and 0 < int(recent) < min_cell:
            item.update(recent_mean_rating=None)
            hidden = True
        if recent is not None and 0 < int(recent) < min_cell:
            item["recent_feedback_count"] = None
        item["suppressed"] = hidden
        out.append(item)
    return _reported("segments", out)


def hidden_need_labels(emerging: Iterable[dict], segment: str, min_cell: int) -> set[str]:
    """Labels of the segment's emerging needs too small to name (a suggestion's reason must not quote them)."""
    hidden = {str(i["label"]) for i in emerging
              if i.get("segment") == segment and i.get("label") and _cell(i) < min_cell}
    _report("need_labels", len(hidden))
    return hidden
