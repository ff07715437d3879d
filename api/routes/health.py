"""Probes that need no key: liveness and readiness.

Unauthenticated answers name states, never an exception message (it may hold a file path or a URI).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.deps import LiveDep
from api.routes.needs import needs_training, served_needs

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={
    200: {"content": {"application/json": {"example": {
        "status": "ready", "model_version": "3", "registry": "available", "needs": "ready"}}}},
    503: {"description": "no champion loaded yet", "content": {"application/json": {
        "example": {"status": "not ready", "detail": "no champion model loaded", "registry": "available"}}}},
})
def readyz(live: LiveDep, request: Request) -> JSONResponse:
    """Ready when forecasts are served: the champion's, or the stored ones while the registry is unavailable.

    `needs` says whether emerging needs are served (`ready`), on their way (`training`: a training is queued or
    running, as in the first minutes of `needcast demo`) or not made (`none`: no feedback, or never trained)."""
    if not live.ready:
        detail = ("model registry unavailable and no stored forecasts" if live.registry == "unavailable"
                  else "no champion model loaded")
        return JSONResponse({"status": "not ready", "detail": detail, "registry": live.registry}, 503)
    try:
        needs = "ready" if served_needs(request) is not None else (
            "training" if needs_training(request.app.state.engine) else "none")
    except SQLAlchemyError:  # the probe answers for the forecasts; the needs' state is a courtesy
        needs = "unknown"
    return JSONResponse({"status": "ready", "model_version": live.forecasts.version, "registry": live.registry,
                         "needs": needs})
