"""POST /v1/scenarios and GET /v1/scenarios[/{id}]: a planned event's effect on a selection's forecast.

Computed on demand with the live champion (no retraining) and stored, so planners can come back to them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from api.audit import CallerDep
from api.champion import champion_forecaster
from api.deps import EngineDep, PlannerDep, served
from api.routes.catalogues import NamesDep
from api.routes.events import EventIn, event_from_body
from api.schemas import AUTH_ERRORS, BAD_JSON, NO_CHAMPION, error
from features.contract import SERIES_KEY
from forecast.names import KEYS
from forecast.scenarios import ChampionForecaster, Scenario, selection_inputs, what_if
from forecast.served import ServedForecasts
from store import tables

router = APIRouter(prefix="/v1", tags=["scenarios"], responses=AUTH_ERRORS)

NOT_AWARE = ("the live model has no event features: no registered event touches its history, so it has not "
             "learned what an event does; register past events too and retrain")


class Band(BaseModel):
    p10: float
    p50: float
    p90: float
    mean: float


class ScenarioPoint(BaseModel):
    date: dt.date
    without: Band
    with_event: Band


_EVENT = {"name": "СМС-рассылка о перерасчёте пенсии", "start": "2026-11-09", "end": "2026-11-22",
                   "kind": "campaign", "services": ["pension_recalculation"], "segments": ["pensioners"],
                   "regions": []}
_POINT = {"date": "2026-11-10", "without": {"p10": 96.0, "p50": 112.4, "p90": 127.9, "mean": 111.8},
          "with_event": {"p10": 121.3, "p50": 139.0, "p90": 157.2, "mean": 138.1}}


class ScenarioIn(BaseModel):
    event: EventIn
    service: str | None = Field(None, max_length=200)
    segment: str = Field(max_length=200, description="the segment to compute (code or name)")
    region: str | None = Field(None, max_length=200)

    model_config = {"json_schema_extra": {"examples": [{"event": _EVENT, "segment": "pensioners",
                                                        "region": "center"}]}}


class ScenarioOut(BaseModel):
    id: int
    created_at: str
    created_by: str
    model_version: str
    event: EventIn
    selection: dict[str, str | None]
    event_aware: bool
    note: str | None = None
    series: int
    total_without: float = Field(description="sum of the expected values over the horizon, without the event")
    total_with: float
    items: list[ScenarioPoint]

    model_config = {"protected_namespaces": (), "json_schema_extra": {"examples": [{
        "id": 12, "created_at": "2026-11-02T09:15:00+00:00", "created_by": "planner:3f9a1c2e", "model_version": "4",
        "event": _EVENT, "selection": {"service": None, "segment": "pensioners", "region": "center"},
        "event_aware": True, "note": None, "series": 10, "total_without": 3120.4, "total_with": 3495.9,
        "items": [_POINT]}]}}


class ScenarioSummary(BaseModel):
    id: int
    created_at: str
    created_by: str
    model_version: str
    event: EventIn
    selection: dict[str, str | None]
    total_without: float
    total_with: float

    model_config = {"protected_namespaces": ()}


class ScenariosResponse(BaseModel):
    items: list[ScenarioSummary]

    model_config = {"json_schema_extra": {"examples": [{"items": [{
        "id": 12, "created_at": "2026-11-02T09:15:00+00:00", "created_by": "planner:3f9a1c2e", "model_version": "4",
        "event": _EVENT, "selection": {"service": None, "segment": "pensioners", "region": "center"},
        "total_without": 3120.4, "total_with": 3495.9}]}]}}


def _compute(engine: Engine, holder: ChampionForecaster, version: str, event, selection: dict) -> Scenario:
    forecaster = holder.get(version)
    usage, feedback, events = selection_inputs(engine, forecaster, **selection)
    return what_if(forecaster, usage, events, event, selection["service"], selection["segment"],
                   selection["region"], feedback)


def _points(totals: pd.DataFrame) -> list[dict]:
    return [{"date": r["date"].date(),
             "without": {k: round(float(r[f"{k}_without"]), 3) for k in ("p10", "p50", "p90", "mean")},
             "with_event": {k: round(float(r[f"{k}_with"]), 3) for k in ("p10", "p50", "p90", "mean")}}
            for r in totals.to_dict("records")]


def _store(engine: Engine, doc: dict) -> int:
    s = tables.scenarios
    with engine.begin() as conn:
        result = conn.execute(s.insert().values(
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), created_by=doc["created_by"],
            model_version=doc["model_version"], event=doc["event"], selection=doc["selection"],
            result={k: doc[k] for k in ("event_aware", "note", "series", "total_without", "total_with", "items")}))
    return int(result.inserted_primary_key[0])


def _doc(row) -> dict:
    return {"id": row.id, "created_at": row.created_at.isoformat(timespec="seconds"), "created_by": row.created_by,
            "model_version": row.model_version, "event": row.event, "selection": row.selection, **row.result}


@router.post("/scenarios", response_model=ScenarioOut, status_code=status.HTTP_201_CREATED,
             responses={404: error("the selection has no series", "segment: no series with segment='x'"),
                        422: error("a field is wrong", "event.end: 2026-11-01 is before start 2026-11-02"),
                        **NO_CHAMPION, **BAD_JSON})
async def create_scenario(
    who: CallerDep,
    engine: EngineDep,
    names: NamesDep,
    request: Request,
    forecasts: Annotated[ServedForecasts, Depends(served)],
    body: ScenarioIn,
) -> dict:
    """The forecast of one segment (optionally one service and region) without and with a planned event.

    Computed with the live champion from the stored history (no retraining) and stored; the event itself is
    not registered (POST /v1/events does that). Dates and values are sums over the selected series.
    """
    try:
        event = event_from_body(body.event)
    except HTTPException as exc:
        raise HTTPException(exc.status_code, f"event.{exc.detail}") from None
    selection = {k: names.code_of(k, getattr(body, k)) for k in KEYS}
    for key, value in selection.items():
        if value is not None and value not in forecasts.key_values[key]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{key}: no series with {key}={value!r}")
    if forecasts.query(selection["service"], selection["segment"], selection["region"], 1).empty:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "segment: no series for this service, segment and region")
    holder = champion_forecaster(request)
    try:
        scenario = await run_in_threadpool(_compute, engine, holder, forecasts.version, event, selection)
    except LookupError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    totals = scenario.totals([k for k in KEYS if selection[k] is not None], forecasts.dependence)
    doc = {
        "created_by": who, "model_version": forecasts.version,
        "event": body.event.model_dump(mode="json"), "selection": selection,
        "event_aware": scenario.event_aware, "note": None if scenario.event_aware else NOT_AWARE,
        "series": int(scenario.without.groupby(SERIES_KEY).ngroups),
        "total_without": round(float(totals["mean_without"].sum()), 3),
        "total_with": round(float(totals["mean_with"].sum()), 3),
        "items": [{**p, "date": p["date"].isoformat()} for p in _points(totals)],
    }
    scenario_id = await run_in_threadpool(_store, engine, doc)
    return {"id": scenario_id, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **doc}


@router.get("/scenarios", response_model=ScenariosResponse)
async def list_scenarios(_: PlannerDep, engine: EngineDep) -> dict:
    """Stored scenarios, newest first (without their daily values)."""
    s = tables.scenarios

    def read() -> list:
        with engine.connect() as conn:
            return conn.execute(select(s).order_by(s.c.id.desc()).limit(200)).all()

    return {"items": [_doc(r) for r in await run_in_threadpool(read)]}


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut,
            responses={404: error("no such scenario", "scenario_id: no scenario with id 7")})
async def get_scenario(_: PlannerDep, engine: EngineDep,
                       scenario_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict:
    """One stored scenario with its daily values."""
    s = tables.scenarios

    def read():
        with engine.connect() as conn:
            return conn.execute(select(s).where(s.c.id == scenario_id)).first()

    row = await run_in_threadpool(read)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"scenario_id: no scenario with id {scenario_id}")
    return _doc(row)
