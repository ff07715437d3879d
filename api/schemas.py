"""Response and request bodies of the HTTP API (CONTRACT §3)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class ModelRef(BaseModel):
    name: str
    version: str
    trained_at: str


class SeriesKeyItem(BaseModel):
    """A series' codes and their names in the language asked (the code when the catalogue has none)."""

    service: str
    segment: str
    region: str
    service_name: str | None = None
    segment_name: str | None = None
    region_name: str | None = None


class ForecastItem(SeriesKeyItem):
    date: dt.date
    p10: float = Field(ge=0)
    p50: float = Field(ge=0)
    p90: float = Field(ge=0)
    mean: float | None = Field(None, ge=0, description="expected value; sums coherently across series")
    drivers: dict[str, float] | None = Field(
        None, description="with explain=true: contribution of each feature family (day_of_week, holiday, event, "
                          "recent_level, last_year, season, feedback, series, smoothing) and `baseline`; they add "
                          "up to `mean`")
    period_end: dt.date | None = Field(None, description="with period=: the last day of the period")
    days: int | None = Field(None, description="with period=: days of the period the forecast covers and sums")
    partial: bool | None = Field(None, description="with period=: the forecast covers only part of the period "
                                                   "(its first or last one): `days` < the period's length")


class ForecastResponse(BaseModel):
    model: ModelRef
    freq: str
    period: str | None = Field(None, description="with period=: day, week, month or quarter the items sum to")
    data_until: dt.date
    items: list[ForecastItem]

    model_config = {
        "protected_namespaces": (),
        "json_schema_extra": {
            "examples": [{
                "model": {"name": "needcast-demand", "version": "3", "trained_at": "2026-11-01T10:00:00+00:00"},
                "freq": "D", "data_until": "2026-10-31",
                "items": [{"service": "passport_issue", "segment": "youth", "region": "center",
                           "service_name": "Выдача паспорта РФ", "segment_name": "Молодёжь",
                           "region_name": "Центральный округ",
                           "date": "2026-11-01", "p10": 12.0, "p50": 17.5, "p90": 24.0}],
            }]
        },
    }


class ModelSummary(BaseModel):
    name: str
    version: str
    role: str
    created_at: str
    run_id: str | None = Field(None, description="MLflow run; null when the registry cannot be read")
    data_until: str | None = None
    metrics: dict[str, float]

    model_config = {"protected_namespaces": ()}


class ModelsResponse(BaseModel):
    live_version: str | None
    champion: ModelSummary | None
    challengers: list[ModelSummary]
    registry: Literal["available", "unavailable"] = Field(
        "available", description="`unavailable`: the registry cannot be read; `champion` is then the served "
                                 "version as stored in needcast's database, and challengers are not known")

    model_config = {"json_schema_extra": {"examples": [{
        "live_version": "3",
        "champion": {"name": "needcast-demand", "version": "3", "role": "champion",
                     "created_at": "2026-11-01T10:00:00+00:00", "run_id": "4f9c2a", "data_until": "2026-10-31",
                     "metrics": {"wape": 0.21, "coverage_80": 0.81}},
        "challengers": [{"name": "needcast-demand", "version": "4", "role": "challenger",
                         "created_at": "2026-11-08T10:00:00+00:00", "run_id": "7d1e0b", "data_until": "2026-11-07",
                         "metrics": {"wape": 0.23, "coverage_80": 0.78}}],
    }]}}


class FieldErrorOut(BaseModel):
    field: str
    message: str


class RejectedOut(BaseModel):
    index: int
    errors: list[FieldErrorOut]


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedOut]
    batch: str | None = Field(None, description="this ingest's id: `DELETE /v1/usage?id=` removes what it added")

    model_config = {"json_schema_extra": {"examples": [
        {"accepted": 2, "duplicates": 1,
         "rejected": [{"index": 3, "errors": [{"field": "date", "message": "not an ISO 8601 date or date-time"}]}]}
    ]}}


class ErrorOut(BaseModel):
    """Every error answer: `detail` names the field at fault where there is one."""

    detail: str


def error(description: str, example: str) -> dict:
    """An OpenAPI `responses` entry of an error with its `{"detail"}` example."""
    return {"model": ErrorOut, "description": description,
            "content": {"application/json": {"example": {"detail": example}}}}


AUTH_ERRORS = {
    401: error("missing or wrong API key", "invalid API key"),
    403: error("the key's role may not use this route", "this route needs the planner role"),
    429: {**error("too many requests from this address or key, or too many wrong keys (see `Retry-After`)",
                  "too many requests: at most 100 per 1 second"),
          "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}},
}
NO_CHAMPION = {503: error("no champion model loaded yet", "no champion model loaded yet: train first")}
BAD_JSON = {400: error("the body is not valid JSON", "There was an error parsing the body")}


class DeleteResponse(BaseModel):
    """What `DELETE /v1/usage` or `/v1/feedback` removed; the deletion is audited."""

    kind: str
    rows: int = Field(description="usage: series-days reduced or removed; feedback: texts removed")
    amount: int = Field(description="usage: requests subtracted; feedback: texts removed")
    audit_id: int
    refresh_job: str | None = Field(None, description="the queued refresh that updates served answers")

    model_config = {"json_schema_extra": {"examples": [
        {"kind": "usage", "rows": 28, "amount": 412, "audit_id": 3, "refresh_job": "5f0c2a9b1e7d4c3a"}]}}
