"""Prometheus metrics: requests and latency per route, live model, forecast freshness, ingestion counts."""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.contract import Kind
from forecast.small_cells import on_suppressed

REGISTRY = CollectorRegistry()
REQUESTS = Counter("needcast_http_requests_total", "HTTP requests", ["method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("needcast_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
LIVE_VERSION = Gauge("needcast_live_model_version", "version of needcast-demand being served", registry=REGISTRY)
DATA_AGE = Gauge("needcast_forecast_data_age_days", "days since the last day of data behind served forecasts",
                 registry=REGISTRY)
REGISTRY_UP = Gauge("needcast_registry_available",
                    "1 when the model registry answered the last look, 0 while forecasts are served without it",
                    registry=REGISTRY)
SUPPRESSED = Counter("needcast_suppressed_cells_total",
                     "items answered with values withheld for fewer respondents than NEEDCAST_MIN_CELL "
                     "(kind: needs, topics, segments, need_labels kept out of suggestion reasons)", ["kind"],
                     registry=REGISTRY)
for _cell_kind in ("needs", "topics", "segments", "need_labels"):  # exposed as 0 before the first suppression
    SUPPRESSED.labels(_cell_kind)
on_suppressed(lambda kind, n: SUPPRESSED.labels(kind).inc(n))
INGESTED = Counter("needcast_ingested_rows_total", "rows accepted by ingestion", ["kind"], registry=REGISTRY)
REJECTED = Counter("needcast_rejected_rows_total", "rows rejected by ingestion", ["kind"], registry=REGISTRY)
for _kind in (Kind.usage, Kind.feedback):  # exposed as 0 before the first ingestion, so rates start at once
    INGESTED.labels(_kind.value)
    REJECTED.labels(_kind.value)

router = APIRouter(tags=["health"])


EXAMPLE = ('# HELP needcast_http_requests_total HTTP requests\n# TYPE needcast_http_requests_total counter\n'
           'needcast_http_requests_total{method="GET",route="/v1/forecasts",status="200"} 42.0\n')


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}})
def metrics(request: Request) -> Response:
    """Prometheus exposition format; needs no key."""
    live = request.app.state.live
    REGISTRY_UP.set(0.0 if live.registry == "unavailable" else 1.0)
    if live.forecasts is not None:
        LIVE_VERSION.set(float(live.forecasts.version))
        until = date.fromisoformat(live.forecasts.meta["data_until"])
        DATA_AGE.set((date.today() - until).days)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class _Measure:
    """Pure ASGI middleware (no per-request task group, unlike `@app.middleware`): count and time each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The route template, not the raw path, bounds the label cardinality.
            template = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], template, str(status)).inc()


def instrument(app: FastAPI) -> None:
    """Count and time every request by its route template."""
    app.add_middleware(_Measure)
