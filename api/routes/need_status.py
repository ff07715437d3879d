"""The needs loop over HTTP: each emerging need's status, owner and comments, its audit trail, and a CSV export.

`PATCH /v1/needs/{segment}/{topic_id}` changes a need; `GET /v1/needs/status` lists every need with where it
stands (dismissed ones too); `GET /v1/needs/{segment}/{topic_id}/log` is its trail; `GET /v1/needs/export` is
the list as CSV for the weekly meeting.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from api.audit import CallerDep
from api.deps import EngineDep, PlannerDep
from api.routes.catalogues import LangQuery, NamesDep
from api.routes.needs import NeedsDep
from api.schemas import AUTH_ERRORS, BAD_JSON, error
from forecast.names import Names
from forecast.need_status import (
    NeedStatus,
    apply_statuses,
    before_after,
    change_status,
    load_statuses,
    status_log,
)
from forecast.needs import ServedNeeds

router = APIRouter(prefix="/v1/needs", tags=["needs"], responses=AUTH_ERRORS)

SegmentPath = Annotated[str, Path(min_length=1, max_length=200, examples=["pensioners"])]
TopicPath = Annotated[int, Path(ge=0, le=2**31 - 1)]
UNKNOWN_NEED = error("no such need in the served snapshot", "topic_id: segment 'pensioners' has no topic 99")


class StatusChange(BaseModel):
    status: NeedStatus | None = None
    owner: str | None = Field(None, max_length=200, description="who works on it (empty string: nobody)")
    comment: str | None = Field(None, max_length=2000)

    model_config = {"json_schema_extra": {"examples": [
        {"status": "in_work", "owner": "Отдел соцзащиты", "comment": "Проверяем работу портала"}]}}

    @model_validator(mode="after")
    def _changes_something(self) -> StatusChange:
        # A validation error like any other: the framework's 422, naming the body.
        if self.status is None and self.owner is None and not (self.comment or "").strip():
            raise ValueError("give a status, an owner or a comment")
        return self


_STATE = {"topic_id": 17, "segment": "pensioners", "segment_name": "Пенсионеры",
          "label": "запись к врачу · ошибка · портал", "status": "resolved", "owner": "Отдел соцзащиты",
          "emerging": True, "regrown": False, "recent_count": 42, "mean_rating": 1.8,
          "updated_at": "2026-11-20T16:40:05", "updated_by": "planner:3f9a1c2e", "comments": 2,
          "last_comment": "Исправлена форма записи", "resolved_at": "2026-11-20T16:40:05", "weekly_before": 14.5,
          "weekly_after": 6.0, "rating_before": 1.8, "rating_after": 2.9}


class NeedState(BaseModel):
    topic_id: int
    segment: str
    segment_name: str | None = None
    label: str
    status: NeedStatus
    owner: str | None = None
    emerging: bool = Field(description="reported as emerging in the served snapshot")
    regrown: bool = False
    recent_count: int | None = None
    mean_rating: float | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    comments: int = 0
    last_comment: str | None = None
    resolved_at: str | None = None
    weekly_before: float | None = None
    weekly_after: float | None = None
    rating_before: float | None = None
    rating_after: float | None = None

    model_config = {"json_schema_extra": {"examples": [_STATE]}}


class NeedStatesResponse(BaseModel):
    items: list[NeedState]

    model_config = {"json_schema_extra": {"examples": [{"items": [_STATE]}]}}


class LogEntry(BaseModel):
    at: str
    by: str
    status: str | None
    owner: str | None
    comment: str | None


class LogResponse(BaseModel):
    topic_id: int
    segment: str
    items: list[LogEntry]

    model_config = {"json_schema_extra": {"examples": [{"topic_id": 17, "segment": "pensioners", "items": [
        {"at": "2026-11-03T10:02:11", "by": "planner:3f9a1c2e", "status": "in_work", "owner": "Отдел соцзащиты",
         "comment": "Проверяем запись через портал"},
        {"at": "2026-11-20T16:40:05", "by": "planner:3f9a1c2e", "status": "resolved", "owner": None,
         "comment": "Исправлена форма записи"}]}]}}


def _labels(needs: ServedNeeds | None) -> dict[int, str]:
    return {int(t["topic_id"]): t["label"] for t in needs.snapshot.topics} if needs else {}


def _states(engine, needs: ServedNeeds | None, names: Names, lang: str, segment: str | None) -> list[dict]:
    statuses = load_statuses(engine, segment)
    emerging = apply_statuses(needs.emerging(segment, 100_000) if needs else [], statuses, include_dismissed=True)
    labels = _labels(needs)
    seen = set()
    out = []
    for item in emerging:
        key = (int(item["topic_id"]), item["segment"])
        seen.add(key)
        out.append(_state(key, statuses.get(key), item, labels, needs, names, lang, engine))
    for key, row in statuses.items():  # needs worked on that are no longer emerging
        if key not in seen:
            out.append(_state(key, row, None, labels, needs, names, lang, engine))
    return out


def _state(key, row, item, labels, needs, names, lang, engine) -> dict:
    topic_id, segment = key
    comments = [e["comment"] for e in status_log(engine, topic_id, segment) if e["comment"]] if row else []
    state = {
        "topic_id": topic_id, "segment": segment, "segment_name": names.name("segment", segment, lang),
        "label": item["label"] if item else labels.get(topic_id, f"#{topic_id}"),
        "status": row["status"] if row else NeedStatus.new.value, "owner": row.get("owner") if row else None,
        "emerging": item is not None, "regrown": bool(item and item.get("regrown")),
        "recent_count": item.get("recent_count") if item else None,
        "mean_rating": item.get("mean_rating") if item else None,
        "updated_at": row["updated_at"].isoformat(timespec="seconds") if row else None,
        "updated_by": row.get("updated_by") if row else None,
        "comments": len(comments), "last_comment": comments[-1] if comments else None,
    }
    if row and row.get("resolved_at") is not None:
        state["resolved_at"] = row["resolved_at"].isoformat(timespec="seconds")
        if needs is not None:
            state.update({k: v for k, v in before_after(needs.snapshot.volumes, topic_id, segment,
                                                        row["resolved_at"]).items() if k != "weeks_after"})
        state["rating_before"] = row.get("mean_rating_at_change")
        state["rating_after"] = item.get("mean_rating") if item else None
    return state


@router.get("/status", response_model=NeedStatesResponse)
async def list_need_states(_: PlannerDep, engine: EngineDep, needs: NeedsDep, names: NamesDep,
                           segment: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                           lang: LangQuery = "ru") -> dict:
    """Every emerging need and every need a planner has worked on, with its status, owner and last comment;
    resolved ones with their weekly volume before and after."""
    return {"items": await run_in_threadpool(_states, engine, needs, names, lang, segment)}


@router.patch("/{segment}/{topic_id}", response_model=NeedState,
              responses={404: UNKNOWN_NEED, **BAD_JSON})
async def change_need(who: CallerDep, engine: EngineDep, needs: NeedsDep, names: NamesDep,
                      segment: SegmentPath, topic_id: TopicPath, body: StatusChange,
                      lang: LangQuery = "ru") -> dict:
    """Set a need's status and/or owner and/or add a comment; each change is logged with who and when."""
    if needs is None or topic_id not in _labels(needs) or segment not in needs.segments:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"topic_id: segment {segment!r} has no topic {topic_id} in the served needs")
    item = next((i for i in needs.emerging(segment, 100_000) if int(i["topic_id"]) == topic_id), None)
    await run_in_threadpool(change_status, engine, topic_id, segment, who, body.status, body.owner, body.comment,
                            item)
    states = await run_in_threadpool(_states, engine, needs, names, lang, segment)
    return next(s for s in states if s["topic_id"] == topic_id and s["segment"] == segment)


@router.get("/{segment}/{topic_id}/log", response_model=LogResponse, responses={404: UNKNOWN_NEED})
async def need_log(_: PlannerDep, engine: EngineDep, segment: SegmentPath, topic_id: TopicPath) -> dict:
    """Every status change, owner change and comment of one need, oldest first."""
    return {"topic_id": topic_id, "segment": segment,
            "items": await run_in_threadpool(status_log, engine, topic_id, segment)}


EXPORT_COLUMNS = ["segment", "segment_name", "topic_id", "label", "status", "owner", "emerging", "recent_count",
                  "mean_rating", "updated_at", "updated_by", "comments", "last_comment", "resolved_at",
                  "weekly_before", "weekly_after", "rating_before", "rating_after"]


@router.get("/export", response_class=Response,
            responses={200: {"content": {"text/csv": {"example": ",".join(EXPORT_COLUMNS) + "\n"}}}})
async def export_needs(_: PlannerDep, engine: EngineDep, needs: NeedsDep, names: NamesDep,
                       segment: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                       lang: LangQuery = "ru") -> Response:
    """The needs and where they stand, as CSV (UTF-8 with BOM, so spreadsheet programs read Cyrillic)."""
    states = await run_in_threadpool(_states, engine, needs, names, lang, segment)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(states)
    return Response(("\ufeff" + buffer.getvalue()).encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="needs.csv"'})
