"""The FastAPI application factory: state, background champion watcher and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.answers import AnswerCache
from api.dashboard import routes as dashboard
from api.keys import parse_env_keys
from api.limits import BodyLimit
from api.observability import instrument
from api.observability import router as metrics_router
from api.routes import forecasts, health, ingest, jobs, models, needs, segments, staffing
from features.store import get_engine
from forecast.live import LiveModels
from needcast.settings import Settings, get_settings
from training.registry import configure

log = logging.getLogger(__name__)


async def _watch_champion(app: FastAPI) -> None:
    """Poll the registry so a moved `champion` alias is served within the reload interval."""
    live: LiveModels = app.state.live
    while True:
        await asyncio.sleep(app.state.settings.reload_interval_s)
        await asyncio.to_thread(live.sync)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    await asyncio.to_thread(app.state.live.sync)
    watcher = asyncio.create_task(_watch_champion(app))
    try:
        yield
    finally:
        watcher.cancel()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (read from the environment by default)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="needcast",
        version="0.1.0",
        summary="Demand forecasts, emerging needs and proactive suggestions for public services.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings.db_url)
    app.state.env_keys = parse_env_keys(settings.api_keys)
    app.state.forecast_answers = AnswerCache()
    app.state.live = LiveModels(app.state.engine, configure(settings.mlflow_tracking_uri))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_middleware(BodyLimit)
    instrument(app)  # added last, so outermost: a refused body is counted too
    app.include_router(metrics_router)
    for module in (health, forecasts, models, ingest, staffing, jobs, segments, needs, dashboard):
        app.include_router(module.router)
    return app
