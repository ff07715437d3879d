"""GET, POST /v1/events and DELETE /v1/events/{id}: the known events (campaigns, law changes) forecasts account for.

A stored event shapes the next refresh and training; `POST /v1/scenarios` shows its effect at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.champion import champion_forecaster
from api.deps import EngineDep, PlannerDep
from api.schemas import AUTH_ERRORS, BAD_JSON, NO_CHAMPION, error
from features.events import Event, EventKind, InvalidEventError, add_event, parse_event, remove_event
from features.series import series_frame
from forecast.explain import event_effects
from forecast.scenarios import selection_inputs
from store.reads import load_events

__all__ = ["EventIn", "EventOut", "event_from_body", "router"]

router = APIRouter(prefix="/v1", tags=["events"], responses=AUTH_ERRORS)

_LIST = Field(default_factory=list, max_length=500, description="ids it touches; empty: all")


class EventIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, examples=["СМС-информирование о едином пособии"])
    start: dt.date
    end: dt.date
    kind: EventKind = EventKind.campaign
    services: list[str] = _LIST
    segments: list[str] = _LIST
    regions: list[str] = _LIST

    model_config = {"json_schema_extra": {"examples": [{
        "name": "СМС-информирование о едином пособии", "start": "2026-11-02", "end": "2026-11-15",
        "kind": "campaign", "services": ["child_benefit"], "segments": ["families"], "regions": []}]}}


class EventOut(EventIn):
    id: int
    status: str = Field(description="past, in_force or planned (against today)")
    effect: float | None = Field(None, description="with effects=true: requests the live model attributes to the "
                                                   "event over its days in the history (LightGBM contributions)")
    actual: float | None = Field(None, description="with effects=true: actual requests of the touched series then")


class EventsResponse(BaseModel):
    items: list[EventOut]

    model_config = {"json_schema_extra": {"examples": [{"items": [{
        "id": 3, "name": "СМС-информирование о едином пособии", "start": "2026-03-02", "end": "2026-03-15",
        "kind": "campaign", "services": ["child_benefit"], "segments": ["families"], "regions": [],
        "status": "past", "effect": 412.5, "actual": 1630.0}]}]}}


def event_from_body(body: EventIn) -> Event:
    """The validated event of a request body, or 422 naming the field."""
    try:
        return parse_event(body.name, body.start, body.end, body.kind, body.services, body.segments, body.regions)
    except InvalidEventError as exc:
        field = {"service": "services", "segment": "segments", "region": "regions"}.get(exc.field, exc.field)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"{field}: {exc.reason}") from None


def _status(start: dt.date, end: dt.date, today: dt.date) -> str:
    return "past" if end < today else "in_force" if start <= today else "planned"


def _items(engine) -> list[dict]:
    frame = load_events(engine)
    today = dt.date.today()
    return [{"id": int(e.id), "name": e.name, "start": e.start.date(), "end": e.end.date(), "kind": e.kind,
             "services": e.services, "segments": e.segments, "regions": e.regions,
             "status": _status(e.start.date(), e.end.date(), today)} for e in frame.itertuples(index=False)]


def _with_effects(engine, holder, version: str, items: list[dict]) -> list[dict]:
    """`items` with the learned `effect` and the `actual` requests of each event that lies in the history."""
    forecaster = holder.get(version)
    events = load_events(engine)
    usage, feedback, _ = selection_inputs(engine, forecaster)
    touched = np.zeros(len(usage), bool)
    for ev in events.itertuples(index=False):  # only the series some event touches
        scope = np.ones(len(usage), bool)
        for column, values in (("service", ev.services), ("segment", ev.segments), ("region", ev.regions)):
            if values:
                scope &= usage[column].isin(values).to_numpy()
        touched |= scope
    if not touched.any():
        return items
    last = usage["date"].max()
    series = series_frame(usage[touched], forecaster.config.freq, data_until=last)
    effects = event_effects(forecaster, series, events, feedback).set_index("id")
    for item in items:
        row = effects.loc[item["id"]]
        if not np.isnan(row["effect"]):
            item["effect"], item["actual"] = round(float(row["effect"]), 1), round(float(row["actual"]), 1)
    return items


@router.get("/events", response_model=EventsResponse, response_model_exclude_none=True,
            responses=NO_CHAMPION)
async def list_events(_: PlannerDep, engine: EngineDep, request: Request,
                      effects: Annotated[bool, Query(description="add what the live model learned each past "
                                                                 "event did (computed on demand)")] = False) -> dict:
    """Every registered event, earliest first, with whether it is past, in force or planned."""
    items = await run_in_threadpool(_items, engine)
    if effects:
        live = request.app.state.live
        if live.forecasts is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no champion model loaded yet: train first")
        key = (live.forecasts.version, tuple((i["id"], str(i["start"]), str(i["end"])) for i in items))
        cached = getattr(request.app.state, "event_effects", None)
        if cached is None or cached[0] != key:
            items = await run_in_threadpool(_with_effects, engine, champion_forecaster(request),
                                            live.forecasts.version, items)
            request.app.state.event_effects = (key, items)
        else:
            items = cached[1]
    return {"items": items}


@router.post("/events", response_model=EventOut, status_code=status.HTTP_201_CREATED,
             responses={422: error("a field is wrong", "end: 2026-11-01 is before start 2026-11-02"), **BAD_JSON})
async def create_event(_: PlannerDep, engine: EngineDep, body: EventIn) -> dict:
    """Register an event; `needcast refresh` applies it with the champion, training learns from past ones."""
    event = event_from_body(body)
    event_id = await run_in_threadpool(add_event, engine, event)
    return {"id": event_id, "name": event.name, "start": event.start, "end": event.end, "kind": event.kind,
            "services": list(event.services), "segments": list(event.segments), "regions": list(event.regions),
            "status": _status(event.start, event.end, dt.date.today())}


class EventDeleted(BaseModel):
    id: int
    deleted: bool

    model_config = {"json_schema_extra": {"examples": [{"id": 7, "deleted": True}]}}


@router.delete("/events/{event_id}", response_model=EventDeleted,
               responses={404: error("no such event", "event_id: no event with id 7")})
async def delete_event(_: PlannerDep, engine: EngineDep,
                       event_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict:
    """Delete one registered event."""
    if not await run_in_threadpool(remove_event, engine, event_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event_id: no event with id {event_id}")
    return {"id": event_id, "deleted": True}
