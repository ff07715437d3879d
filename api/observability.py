"""Prometheus metrics: requests and latency per route, live model, forecast freshness, ingestion counts."""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("needcast_http_requests_total", "HTTP requests", ["method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("needcast_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
LIVE_VERSION = Gauge("needcast_live_model_version", "version of needcast-demand being served", registry=REGISTRY)
DATA_AGE = Gauge("needcast_forecast_data_age_days", "days since the last day of data behind served forecasts",
                 registry=REGISTRY)
INGESTED = Counter("needcast_ingested_rows_total", "rows accepted by ingestion", ["kind"], registry=REGISTRY)
REJECTED = Counter("needcast_rejected_rows_total", "rows rejected by ingestion", ["kind"], registry=REGISTRY)

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus exposition format; needs no key."""
    live = request.app.state.live
    if live.forecasts is not None:
        LIVE_VERSION.set(float(live.forecasts.version))
        until = date.fromisoformat(live.forecasts.meta["data_until"])
        DATA_AGE.set((date.today() - until).days)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    """Count and time every request by its route template (not its raw path, to bound label cardinality)."""

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response
