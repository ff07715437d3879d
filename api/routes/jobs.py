"""Admin operations: training jobs in the background and refreshing served forecasts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import AdminDep, EngineDep, LiveDep, SettingsDep
from api.schemas import AUTH_ERRORS, BAD_JSON, error
from needcast.jobs import refresh_served
from needcast.training_jobs import JobAlreadyRunning, get_job, start_training_job

router = APIRouter(prefix="/v1", tags=["operations"], responses=AUTH_ERRORS)


class TrainRequest(BaseModel):
    horizon: Annotated[int | None, Field(ge=1, le=366)] = None
    freq: Literal["D", "W"] = "D"

    model_config = {"json_schema_extra": {"examples": [{"horizon": 28, "freq": "D"}]}}


class JobAccepted(BaseModel):
    job_id: str

    model_config = {"json_schema_extra": {"examples": [{"job_id": "3f2a9c4e1b7d6a05"}]}}


class JobState(BaseModel):
    id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: str
    params: dict
    created_at: str
    finished_at: str | None
    result: dict | None = Field(None, description="model version, champion_moved and backtest metrics at the end")

    model_config = {"json_schema_extra": {"examples": [{
        "id": "3f2a9c4e1b7d6a05", "state": "succeeded", "progress": "done", "params": {"horizon": 28, "freq": "D"},
        "created_at": "2026-11-02T03:00:00", "finished_at": "2026-11-02T03:04:12",
        "result": {"version": "4", "champion_moved": True, "metrics": {"wape": 0.21}},
    }]}}


class RefreshResult(BaseModel):
    model_version: str
    data_until: str
    rows: int

    model_config = {"protected_namespaces": (), "json_schema_extra": {
        "examples": [{"model_version": "3", "data_until": "2026-11-01", "rows": 672}]}}


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={409: error("a training job is already running",
                                   "training job 3f2a9c4e1b7d6a05 is still running; follow /v1/jobs/3f2a9c4e1b7d6a05"),
                        **BAD_JSON})
def post_train(_: AdminDep, engine: EngineDep, body: TrainRequest | None = None) -> JobAccepted:
    """Start a training job (one at a time); follow it at `/v1/jobs/{job_id}`."""
    body = body or TrainRequest()
    try:
        return JobAccepted(job_id=start_training_job(engine, body.model_dump()))
    except JobAlreadyRunning as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}; follow /v1/jobs/{exc.job_id}") from exc


@router.get("/jobs/{job_id}", response_model=JobState,
            responses={404: error("no such job", "job_id: no job '3f2a9c4e1b7d6a05'")})
def get_job_state(_: AdminDep, engine: EngineDep, job_id: str) -> dict:
    """State, progress and, at the end, whether the champion moved."""
    job = get_job(engine, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job_id: no job {job_id!r}")
    return job


@router.post("/refresh", response_model=RefreshResult,
             responses={409: error("no champion yet", "no champion model yet: run `needcast train` first")})
async def post_refresh(_: AdminDep, settings: SettingsDep, live: LiveDep) -> dict:
    """Recompute forecasts, needs and suggestions from the latest data with the champions, without retraining."""
    try:
        await asyncio.to_thread(refresh_served, settings)
    except LookupError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await asyncio.to_thread(live.reload_served)
    served = live.forecasts
    return {"model_version": served.version, "data_until": served.meta["data_until"], "rows": len(served.table)}
