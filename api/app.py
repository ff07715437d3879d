"""The FastAPI application factory: state, background champion watcher and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from mlflow import MlflowClient

from api.answers import AnswerCache
from api.dashboard import routes as dashboard
from api.docs import install_docs
from api.errors import install_error_handlers
from api.keys import parse_env_keys
from api.limits import BodyLimit, RateLimit
from api.observability import instrument
from api.observability import router as metrics_router
from api.routes import catalogues as catalogue_routes
from api.routes import events as event_routes
from api.routes import forecasts, health, ingest, jobs, models, need_status, needs, segments, staffing
from api.routes import scenarios as scenario_routes
from forecast.live import LiveModels, registry_reachable
from jobs.queue import refresh_unless_training
from needcast.settings import Settings, get_settings
from store.engine import get_engine
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


def _registry_client(uri: str) -> MlflowClient | None:
    """The MLflow client, or None when the registry cannot be read now: the app starts anyway and serves the
    forecasts stored in its database; `LiveModels` connects when the registry comes back."""
    if not registry_reachable(uri):
        log.error("model registry unavailable at start: serving stored forecasts until it is back")
        return None
    try:
        return configure(uri)
    except Exception as exc:  # a broken registry must not keep the API down
        log.error("model registry unavailable at start (%s): serving stored forecasts", type(exc).__name__)
        return None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (read from the environment by default)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="needcast",
        version="0.1.0",
        summary="Demand forecasts, emerging needs and proactive suggestions for public services.",
        lifespan=_lifespan,
        docs_url=None,  # served by api.docs from local files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings.db_url)
    app.state.env_keys = parse_env_keys(settings.api_keys)
    app.state.forecast_answers = AnswerCache()
    # A champion without stored forecasts is refreshed by the worker, never computed in an API worker.
    app.state.live = LiveModels(app.state.engine, _registry_client(settings.mlflow_tracking_uri),
                                registry_uri=settings.mlflow_tracking_uri,
                                connect=lambda: configure(settings.mlflow_tracking_uri),
                                request_refresh=lambda _version: refresh_unless_training(app.state.engine,
                                                                                         settings.job_lease_s))

    install_error_handlers(app)  # 422 and 500 without the request's values, in the answer or the log
    install_docs(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RateLimit, per_ip=settings.rate_limit_ip, per_key=settings.rate_limit_key,
                       lockout_failures=settings.lockout_failures, lockout_s=settings.lockout_seconds)
    instrument(app)  # added last, so outermost: a refused body is counted too
    app.include_router(metrics_router)
    for module in (health, forecasts, models, ingest, staffing, jobs, segments, needs, dashboard):
        app.include_router(module.router)
    for module in (catalogue_routes, event_routes, scenario_routes, need_status):  # the planner's workbench
        app.include_router(module.router)
    return app
