"""Probes that need no key: liveness and readiness.

Unauthenticated answers name states, never an exception message (it may hold a file path or a URI).
"""

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
    200: {"content": {"application/json": {"example": {
        "status": "ready", "model_version": "3", "registry": "available"}}}},
    503: {"description": "no champion loaded yet", "content": {"application/json": {
        "example": {"status": "not ready", "detail": "no champion model loaded", "registry": "available"}}}},
})
async def readyz(live: LiveDep) -> JSONResponse:
    """Ready when forecasts are served: the champion's, or the stored ones while the registry is unavailable."""
    if not live.ready:
        detail = ("model registry unavailable and no stored forecasts" if live.registry == "unavailable"
                  else "no champion model loaded")
        return JSONResponse({"status": "not ready", "detail": detail, "registry": live.registry}, 503)
    return JSONResponse({"status": "ready", "model_version": live.forecasts.version, "registry": live.registry})
