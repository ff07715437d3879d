"""POST /v1/usage and /v1/feedback: JSON arrays of rows, validated per row, good rows in one transaction."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, status

from api.deps import EngineDep, IngestDep
from api.observability import INGESTED, REJECTED
from api.schemas import IngestResponse
from features.contract import Kind
from features.errors import NeedcastInputError
from features.ingest import ingest_frame

router = APIRouter(prefix="/v1", tags=["ingestion"])
MAX_ROWS = 10_000

Rows = Annotated[
    list[dict[str, Any]],
    Body(max_length=MAX_ROWS, examples=[[{"date": "2026-11-02", "service": "passport_issue",
                                          "segment": "youth", "region": "center", "count": 3}]]),
]
FeedbackRows = Annotated[
    list[dict[str, Any]],
    Body(max_length=MAX_ROWS, examples=[[{"id": "fb-1", "created_at": "2026-11-02T10:15:00",
                                          "text": "Долго ждал записи к врачу", "segment": "pensioners",
                                          "rating": 2, "channel": "portal"}]]),
]


def _ingest(engine, rows: list[dict[str, Any]], kind: Kind) -> dict:
    if not rows:
        return {"accepted": 0, "duplicates": 0, "rejected": []}
    frame = pd.DataFrame.from_records(rows).astype(object)
    try:
        report = ingest_frame(engine, frame, kind, source=f"api:{kind.value}")
    except NeedcastInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    INGESTED.labels(kind.value).inc(report.accepted)
    REJECTED.labels(kind.value).inc(len(report.rejected))
    return {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": [{"index": r.index, "errors": [e.__dict__ for e in r.errors]} for r in report.rejected],
    }


@router.post("/usage", response_model=IngestResponse)
def post_usage(_: IngestDep, engine: EngineDep, rows: Rows) -> dict:
    """Service-usage rows (CONTRACT §1); bad rows are reported by index and quarantined."""
    return _ingest(engine, rows, Kind.usage)


@router.post("/feedback", response_model=IngestResponse)
def post_feedback(_: IngestDep, engine: EngineDep, rows: FeedbackRows) -> dict:
    """Feedback rows; personal data is redacted before storage; a known `id` is a duplicate."""
    return _ingest(engine, rows, Kind.feedback)
