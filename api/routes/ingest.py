"""POST /v1/usage and /v1/feedback: JSON arrays of rows, validated per row, good rows in one transaction."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, status

from api.deps import EngineDep, IngestDep
from api.limits import MAX_BODY_BYTES
from api.observability import INGESTED, REJECTED
from api.schemas import AUTH_ERRORS, IngestResponse, error
from features.contract import Kind, contract_for
from features.errors import NeedcastInputError
from features.ingest import ingest_frame

router = APIRouter(prefix="/v1", tags=["ingestion"], responses=AUTH_ERRORS)
MAX_ROWS = 10_000
LIMITS = f"At most {MAX_ROWS:,} rows and {MAX_BODY_BYTES // (1024 * 1024)} MiB per request (413 beyond)."
ERRORS = {400: error("the body is not JSON, or not rows of this kind", "There was an error parsing the body"),
          413: error(
    "too many rows or too large a body", f"body: 10001 rows; at most {MAX_ROWS} per request: split the batch")}

Rows = Annotated[
    list[dict[str, Any]],
    Body(description=LIMITS, examples=[[{"date": "2026-11-02", "service": "passport_issue",
                                         "segment": "youth", "region": "center", "count": 3}]]),
]
FeedbackRows = Annotated[
    list[dict[str, Any]],
    Body(description=LIMITS, examples=[[{"id": "fb-1", "created_at": "2026-11-02T10:15:00",
                                         "text": "Долго ждал записи к врачу", "segment": "pensioners",
                                         "rating": 2, "channel": "portal"}]]),
]


def _ingest(engine, rows: list[dict[str, Any]], kind: Kind) -> dict:
    if len(rows) > MAX_ROWS:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body: {len(rows)} rows; at most {MAX_ROWS} per request: split the batch")
    if not rows:
        return {"accepted": 0, "duplicates": 0, "rejected": []}
    # JSON rows stand alone: a required field absent from every row is each row's error, not the batch's.
    frame = pd.DataFrame(rows, index=range(len(rows)))
    required = [c for c in contract_for(kind).required if c not in frame.columns]
    frame = frame.reindex(columns=[*frame.columns, *required]).astype(object)
    try:
        report = ingest_frame(engine, frame, kind, source=f"api:{kind.value}")
    except NeedcastInputError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    INGESTED.labels(kind.value).inc(report.accepted)
    REJECTED.labels(kind.value).inc(len(report.rejected))
    return {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": [{"index": r.index, "errors": [e.__dict__ for e in r.errors]} for r in report.rejected],
    }


@router.post("/usage", response_model=IngestResponse, responses=ERRORS)
def post_usage(_: IngestDep, engine: EngineDep, rows: Rows) -> dict:
    """Service-usage rows (CONTRACT §1); bad rows are reported by index and quarantined."""
    return _ingest(engine, rows, Kind.usage)


@router.post("/feedback", response_model=IngestResponse, responses=ERRORS)
def post_feedback(_: IngestDep, engine: EngineDep, rows: FeedbackRows) -> dict:
    """Feedback rows; personal data is redacted before storage; a known `id` is a duplicate."""
    return _ingest(engine, rows, Kind.feedback)
