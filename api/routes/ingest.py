"""POST /v1/usage and /v1/feedback: JSON arrays of rows, validated per row, good rows in one transaction;
DELETE /v1/usage and /v1/feedback (admin): remove stored rows by source, ingest id, id or dates, audited."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import AdminDep, EngineDep, IngestDep, SettingsDep
from api.limits import MAX_BODY_BYTES
from api.observability import INGESTED, REJECTED
from api.schemas import AUTH_ERRORS, DeleteResponse, IngestResponse, error
from features.contract import Kind, contract_for
from features.errors import NeedcastInputError
from features.ingest import ingest_frame
from store.engine import StoreBusyError

router = APIRouter(prefix="/v1", tags=["ingestion"], responses=AUTH_ERRORS)
MAX_ROWS = 10_000
BUSY_RETRY_AFTER_S = 5
LOCK_WAIT_S = 30.0
"""A request waits this long for another writer (a long file ingest), then answers 503 with `Retry-After`."""
LIMITS = f"At most {MAX_ROWS:,} rows and {MAX_BODY_BYTES // (1024 * 1024)} MiB per request (413 beyond)."
ERRORS = {400: error("the body is not JSON, or not rows of this kind", "There was an error parsing the body"),
          413: error(
    "too many rows or too large a body", f"body: 10001 rows; at most {MAX_ROWS} per request: split the batch"),
          503: error("another ingest holds the database: retry after `Retry-After` seconds",
                     "the database stayed locked by another writer; try again")}

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


def rows_frame(rows: list[dict[str, Any]], kind: Kind) -> pd.DataFrame:
    """JSON rows as a frame of the values exactly as sent: a missing key is None (never NaN, which pandas would
    put there and validation could not tell from a NaN that was sent); required columns always present."""
    columns: dict[str, None] = dict.fromkeys(contract_for(kind).required)
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {c: pd.Series([row.get(c) for row in rows], dtype=object) for c in columns}
    return pd.DataFrame(data, index=range(len(rows)))


def _ingest(engine, settings, rows: list[dict[str, Any]], kind: Kind) -> dict:
    if len(rows) > MAX_ROWS:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body: {len(rows)} rows; at most {MAX_ROWS} per request: split the batch")
    if not rows:
        return {"accepted": 0, "duplicates": 0, "rejected": []}
    # JSON rows stand alone: a required field absent from every row is each row's error, not the batch's.
    frame = rows_frame(rows, kind)
    try:
        report = ingest_frame(engine, frame, kind, source=f"api:{kind.value}", limits=settings.input_limits,
                              nan_is_blank=False, lock_wait_s=LOCK_WAIT_S)
    except NeedcastInputError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    except StoreBusyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)}) from exc
    INGESTED.labels(kind.value).inc(report.accepted)
    REJECTED.labels(kind.value).inc(len(report.rejected))
    return {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": [{"index": r.index, "errors": [e.__dict__ for e in r.errors]} for r in report.rejected],
        "batch": report.batch_id,
    }


@router.post("/usage", response_model=IngestResponse, responses=ERRORS)
def post_usage(_: IngestDep, engine: EngineDep, settings: SettingsDep, rows: Rows) -> dict:
    """Service-usage rows (CONTRACT §1); bad rows are reported by index and quarantined."""
    return _ingest(engine, settings, rows, Kind.usage)


@router.post("/feedback", response_model=IngestResponse, responses=ERRORS)
def post_feedback(_: IngestDep, engine: EngineDep, settings: SettingsDep, rows: FeedbackRows) -> dict:
    """Feedback rows; personal data is redacted before storage; a known `id` is a duplicate."""
    return _ingest(engine, settings, rows, Kind.feedback)


def _actor(request: Request, role: str) -> str:
    """Who deleted, for the audit: the role and a short hash of the key (never the key)."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    return f"api:{role}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _delete(request: Request, role, engine, kind: str, source: str | None, before: dt.date | None,
            after: dt.date | None, row_id: str | None) -> dict:
    from jobs.queue import enqueue
    from store.deletes import DeleteCriteria, NoCriteriaError, delete_rows

    criteria = DeleteCriteria(source=source, before=before, after=after, id=row_id)
    try:
        report = delete_rows(engine, kind, criteria, _actor(request, getattr(role, "value", str(role))))
    except NoCriteriaError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            "query: give at least one of source, before, after, id") from exc
    except StoreBusyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)}) from exc
    job = enqueue(engine, "refresh", {"reason": "delete"}) if report.rows else None
    return {"kind": kind, "rows": report.rows, "amount": report.amount, "audit_id": report.audit_id,
            "refresh_job": job}


Source = Annotated[str | None, Query(max_length=1000, description="the file path the rows were ingested from "
                                     "(as `needcast ingest` saw it), or `api:usage` / `api:feedback`")]
Before = Annotated[dt.date | None, Query(description="rows dated before this day (exclusive)")]
After = Annotated[dt.date | None, Query(description="rows dated after this day (exclusive)")]


@router.delete("/usage", response_model=DeleteResponse, tags=["admin"],
               responses={400: error("no criterion given", "query: give at least one of source, before, after, id")})
async def delete_usage(request: Request, role: AdminDep, engine: EngineDep, source: Source = None,
                       before: Before = None, after: After = None,
                       row_id: Annotated[str | None, Query(alias="id", max_length=64,
                                                           description="an ingest id (`batch` of its answer)")]
                       = None) -> dict:
    """Remove usage (all criteria given must hold): a source's or ingest's contribution is subtracted from the
    days it added to; a date range removes whole days. Audited; a refresh is queued."""
    return await run_in_threadpool(_delete, request, role, engine, "usage", source, before, after, row_id)


@router.delete("/feedback", response_model=DeleteResponse, tags=["admin"],
               responses={400: error("no criterion given", "query: give at least one of source, before, after, id")})
async def delete_feedback(request: Request, role: AdminDep, engine: EngineDep, source: Source = None,
                          before: Before = None, after: After = None,
                          row_id: Annotated[str | None, Query(alias="id", max_length=200,
                                                              description="a feedback id")] = None) -> dict:
    """Remove feedback (all criteria given must hold). Audited; a refresh is queued."""
    return await run_in_threadpool(_delete, request, role, engine, "feedback", source, before, after, row_id)
