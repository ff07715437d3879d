"""Admin operations: queue a training or a refresh for the worker, and follow jobs. Nothing runs here."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AdminDep, EngineDep, LiveDep, SettingsDep
from api.schemas import AUTH_ERRORS, BAD_JSON, error
from jobs.queue import JobAlreadyQueued, enqueue, get_job, recent_jobs

router = APIRouter(prefix="/v1", tags=["operations"], responses=AUTH_ERRORS)


class TrainRequest(BaseModel):
    horizon: Annotated[int | None, Field(ge=1, le=366)] = None
    freq: Literal["D", "W", "M"] = "D"

    model_config = {"json_schema_extra": {"examples": [{"horizon": 28, "freq": "D"}]}}


class JobAccepted(BaseModel):
    job_id: str

    model_config = {"json_schema_extra": {"examples": [{"job_id": "3f2a9c4e1b7d6a05"}]}}


class JobState(BaseModel):
    id: str
    kind: Literal["train", "refresh", "embed", "prune"]
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: str
    params: dict
    attempts: int = Field(description="how many times a worker started it (a stopped worker queues it again)")
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: dict | None = Field(None, description="train: model version, champion_moved and backtest metrics; "
                                                  "refresh: model_version, data_until and rows")

    model_config = {"json_schema_extra": {"examples": [{
        "id": "3f2a9c4e1b7d6a05", "kind": "train", "state": "succeeded", "progress": "done",
        "params": {"horizon": 28, "freq": "D"}, "attempts": 1, "created_at": "2026-11-02T03:00:00",
        "started_at": "2026-11-02T03:00:01", "finished_at": "2026-11-02T03:04:12",
        "result": {"version": "4", "champion_moved": True, "metrics": {"wape": 0.21}},
    }]}}


class JobList(BaseModel):
    items: list[JobState]

    model_config = {"json_schema_extra": {
        "examples": [{"items": JobState.model_config["json_schema_extra"]["examples"]}]}}


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={409: error("a training job is already queued or running",
                                   "a train job is already queued or running: 3f2a9c4e1b7d6a05; "
                                   "follow /v1/jobs/3f2a9c4e1b7d6a05"),
                        **BAD_JSON})
async def post_train(_: AdminDep, engine: EngineDep, settings: SettingsDep,
                     body: TrainRequest | None = None) -> JobAccepted:
    """Queue a training (one at a time, enforced by the database) for the worker; follow it at `/v1/jobs/{job_id}`."""
    body = body or TrainRequest()
    try:
        job_id = await run_in_threadpool(enqueue, engine, "train", body.model_dump(), settings.job_lease_s)
    except JobAlreadyQueued as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}; follow /v1/jobs/{exc.job_id}") from exc
    return JobAccepted(job_id=job_id)


@router.post("/refresh", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={409: error("no champion yet", "no champion model yet: train first (POST /v1/train)")})
async def post_refresh(_: AdminDep, engine: EngineDep, settings: SettingsDep, live: LiveDep) -> JobAccepted:
    """Queue a recomputation of forecasts, needs and suggestions from the latest data with the champions, without
    retraining, for the worker; a refresh already waiting is joined (its id is returned)."""
    if live.champion_version is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "no champion model yet: train first (POST /v1/train)")
    return JobAccepted(job_id=await run_in_threadpool(enqueue, engine, "refresh", {}, settings.job_lease_s))


@router.get("/jobs", response_model=JobList)
async def list_jobs(_: AdminDep, engine: EngineDep,
                    limit: Annotated[int, Query(ge=1, le=200, description="newest first")] = 20) -> dict:
    """The latest jobs, queued, running and finished."""
    return {"items": await run_in_threadpool(recent_jobs, engine, limit)}


@router.get("/jobs/{job_id}", response_model=JobState,
            responses={404: error("no such job", "job_id: no job '3f2a9c4e1b7d6a05'")})
async def get_job_state(_: AdminDep, engine: EngineDep, settings: SettingsDep, job_id: str) -> dict:
    """State, progress and, at the end, the result (for a training: whether the champion moved)."""
    job = await run_in_threadpool(get_job, engine, job_id, settings.job_lease_s)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job_id: no job {job_id!r}")
    return job
