"""Admin operations: training jobs in the background and refreshing served forecasts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import AdminDep, EngineDep, LiveDep, SettingsDep
from needcast.jobs import refresh_served
from needcast.training_jobs import JobAlreadyRunning, get_job, start_training_job

router = APIRouter(prefix="/v1", tags=["operations"])


class TrainRequest(BaseModel):
    horizon: Annotated[int | None, Field(ge=1, le=366)] = None
    freq: Literal["D", "W"] = "D"


class JobAccepted(BaseModel):
    job_id: str


class JobState(BaseModel):
    id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: str
    params: dict
    created_at: str
    finished_at: str | None
    result: dict | None = Field(None, description="model version, champion_moved and backtest metrics at the end")


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={409: {"description": "a training job is already running"}})
def post_train(_: AdminDep, engine: EngineDep, body: TrainRequest | None = None) -> JobAccepted:
    """Start a training job (one at a time); follow it at `/v1/jobs/{job_id}`."""
    body = body or TrainRequest()
    try:
        return JobAccepted(job_id=start_training_job(engine, body.model_dump()))
    except JobAlreadyRunning as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}; follow /v1/jobs/{exc.job_id}") from exc


@router.get("/jobs/{job_id}", response_model=JobState, responses={404: {"description": "no such job"}})
def get_job_state(_: AdminDep, engine: EngineDep, job_id: str) -> dict:
    """State, progress and, at the end, whether the champion moved."""
    job = get_job(engine, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job_id: no job {job_id!r}")
    return job


@router.post("/refresh", responses={409: {"description": "no champion yet"}})
async def post_refresh(_: AdminDep, settings: SettingsDep, live: LiveDep) -> dict:
    """Recompute forecasts, needs and suggestions from the latest data with the champions, without retraining."""
    try:
        await asyncio.to_thread(refresh_served, settings)
    except LookupError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await asyncio.to_thread(live.reload_served)
    served = live.forecasts
    return {"model_version": served.version, "data_until": served.meta["data_until"], "rows": len(served.table)}
