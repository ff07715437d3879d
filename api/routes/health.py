"""Probes that need no key: liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import LiveDep

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={
    200: {"content": {"application/json": {"example": {"status": "ready", "model_version": "3"}}}},
    503: {"description": "no champion loaded yet", "content": {"application/json": {
        "example": {"status": "not ready", "detail": "no champion model loaded"}}}},
})
async def readyz(live: LiveDep) -> JSONResponse:
    """Ready only when a champion model and its forecasts are loaded."""
    if not live.ready:
        return JSONResponse({"status": "not ready", "detail": live.last_error or "no champion model loaded"}, 503)
    return JSONResponse({"status": "ready", "model_version": live.forecasts.version})
