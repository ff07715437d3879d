"""GET /v1/staffing: service windows needed per day to keep the expected wait under a target."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel

from api.deps import EngineDep, PlannerDep, SettingsDep, served
from api.routes.catalogues import LangQuery, NamesDep
from api.schemas import AUTH_ERRORS, NO_CHAMPION, error
from api.spreadsheets import STAFFING_COLUMNS, XLSX_MEDIA, to_xlsx
from features.contract import DEFAULT_HANDLE_MINUTES
from forecast.served import ServedForecasts
from forecast.staffing import staffing_table
from store.reads import load_services

router = APIRouter(prefix="/v1", tags=["staffing"], responses=AUTH_ERRORS)


class StaffingItem(BaseModel):
    service: str
    region: str
    service_name: str | None = None
    region_name: str | None = None
    date: dt.date
    p50: float
    p90: float
    handle_minutes: float
    windows: int
    expected_wait_minutes: float


class StaffingResponse(BaseModel):
    wait_minutes: float
    working_hours: float
    model_version: str
    items: list[StaffingItem]

    model_config = {"json_schema_extra": {"examples": [{
        "wait_minutes": 15, "working_hours": 8, "model_version": "3",
        "items": [{"service": "passport_issue", "region": "center", "date": "2026-11-02", "p50": 80.0,
                   "p90": 96.0, "handle_minutes": 10.0, "windows": 3, "expected_wait_minutes": 4.44}],
    }]}}


@router.get("/staffing", response_model=StaffingResponse, responses={
    200: {"content": {XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}}}},
    404: error("a filter matches no forecast", "date: 2030-01-01 is outside the forecast horizon"),
    409: error("the live model is not daily, or the demand is beyond any office",
               "staffing needs a daily model (train with --freq D)"),
    **NO_CHAMPION})
def get_staffing(
    _: PlannerDep,
    engine: EngineDep,
    settings: SettingsDep,
    forecasts: Annotated[ServedForecasts, Depends(served)],
    names: NamesDep,
    service: Annotated[str | None, Query(max_length=200)] = None,
    region: Annotated[str | None, Query(max_length=200)] = None,
    date: Annotated[dt.date | None, Query(description="one day (default: every forecast day)")] = None,
    wait_minutes: Annotated[float, Query(ge=0.5, le=480, description="target mean wait, 0.5 to 480 minutes")] = 15.0,
    handle_minutes: Annotated[float | None, Query(ge=0.5, le=480, description="override the catalogue, 0.5 to 480")]
    = None,
    format: Annotated[Literal["json", "xlsx"], Query(description="xlsx: a spreadsheet with Russian headers")]
    = "json",
    lang: LangQuery = "ru",
) -> dict | Response:
    """Erlang C on the p90 forecast summed over segments; handling time from the catalogue (default 15)."""
    if forecasts.meta.get("freq") != "D":
        raise HTTPException(status.HTTP_409_CONFLICT, "staffing needs a daily model (train with --freq D)")
    table = forecasts.query(service=service, region=region)
    if service is not None and table.empty:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"service: no forecasts for service={service!r}")
    if region is not None and table.empty:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"region: no forecasts for region={region!r}")
    if date is not None:
        table = table[table["date"].dt.date == date]
        if table.empty:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"date: {date} is outside the forecast horizon")
    catalogue = load_services(engine)
    handle = dict(zip(catalogue["service"], catalogue["handle_minutes"], strict=True))
    try:
        result = staffing_table(table, handle, DEFAULT_HANDLE_MINUTES, settings.working_hours_per_day, wait_minutes,
                                handle_minutes)
    except ValueError as exc:  # a demand no office could meet: bad data or a bad handling time
        raise HTTPException(status.HTTP_409_CONFLICT, f"handle_minutes: {exc}") from exc
    for key in ("service", "region"):  # names next to codes (the planner's workbench)
        result.insert(result.columns.get_loc(key) + 1, f"{key}_name",
                      result[key].map(lambda code, key=key: names.name(key, code, lang)))
    if format == "xlsx":
        note = (f"Окна при ожидании не дольше {wait_minutes:g} мин, рабочий день {settings.working_hours_per_day:g} ч; "
                f"модель v{forecasts.version}")
        return Response(to_xlsx(result, STAFFING_COLUMNS, "Окна", note), media_type=XLSX_MEDIA,
                        headers={"Content-Disposition": 'attachment; filename="staffing.xlsx"'})
    return {
        "wait_minutes": wait_minutes, "working_hours": settings.working_hours_per_day,
        "model_version": forecasts.version,
        "items": result.assign(date=result["date"].dt.date).to_dict("records"),
    }
