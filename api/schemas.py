"""Response and request bodies of the HTTP API (CONTRACT §3)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class ModelRef(BaseModel):
    name: str
    version: str
    trained_at: str


class ForecastItem(BaseModel):
    service: str
    segment: str
    region: str
    date: dt.date
    p10: float = Field(ge=0)
    p50: float = Field(ge=0)
    p90: float = Field(ge=0)
    mean: float | None = Field(None, ge=0, description="expected value; sums coherently across series")


class ForecastResponse(BaseModel):
    model: ModelRef
    freq: str
    data_until: dt.date
    items: list[ForecastItem]

    model_config = {
        "protected_namespaces": (),
        "json_schema_extra": {
            "examples": [{
                "model": {"name": "needcast-demand", "version": "3", "trained_at": "2026-11-01T10:00:00+00:00"},
                "freq": "D", "data_until": "2026-10-31",
                "items": [{"service": "passport_issue", "segment": "youth", "region": "center",
                           "date": "2026-11-01", "p10": 12.0, "p50": 17.5, "p90": 24.0}],
            }]
        },
    }


class ModelSummary(BaseModel):
    name: str
    version: str
    role: str
    created_at: str
    run_id: str
    data_until: str | None = None
    metrics: dict[str, float]

    model_config = {"protected_namespaces": ()}


class ModelsResponse(BaseModel):
    live_version: str | None
    champion: ModelSummary | None
    challengers: list[ModelSummary]


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

    model_config = {"json_schema_extra": {"examples": [
        {"accepted": 2, "duplicates": 1,
         "rejected": [{"index": 3, "errors": [{"field": "date", "message": "not an ISO 8601 date or date-time"}]}]}
    ]}}
