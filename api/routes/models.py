"""GET /v1/models: the champion and recent challengers with their backtest metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import LiveDep, PlannerDep
from api.schemas import AUTH_ERRORS, ModelsResponse, ModelSummary
from forecast.live import LiveModels, registry_reachable
from training.registry import CHAMPION, DEMAND_MODEL, champion_info

router = APIRouter(prefix="/v1", tags=["models"], responses=AUTH_ERRORS)
log = logging.getLogger(__name__)


def _from_registry(live: LiveModels, limit: int) -> ModelsResponse:
    """What the registry says (raises when it cannot be read)."""
    if live.registry_uri and not registry_reachable(live.registry_uri):
        raise ConnectionError("the model registry cannot be read")
    client = live.client
    if client is None:
        raise ConnectionError("no model registry client")
    versions = sorted(client.search_model_versions(f"name='{DEMAND_MODEL}'"),
                      key=lambda v: int(v.version), reverse=True)
    # search results do not carry aliases: ask for the alias itself.
    champ = champion_info(client, DEMAND_MODEL)
    champion = None
    challengers = []
    for mv in versions[:limit]:
        run = client.get_run(mv.run_id)
        summary = ModelSummary(
            name=DEMAND_MODEL, version=str(mv.version),
            role=CHAMPION if champ is not None and champ.version == str(mv.version) else "challenger",
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds"),
            run_id=mv.run_id, data_until=run.data.tags.get("data_until"), metrics=run.data.metrics,
        )
        if summary.role == CHAMPION:
            champion = summary
        else:
            challengers.append(summary)
    return ModelsResponse(live_version=live.forecasts.version if live.forecasts else None, champion=champion,
                          challengers=challengers)


def _from_store(live: LiveModels) -> ModelsResponse:
    """The served version as needcast's database stored it (its backtest metrics are in the served meta)."""
    served = live.forecasts
    champion = None
    if served is not None:
        meta = served.meta
        champion = ModelSummary(
            name=meta["model"].get("name", DEMAND_MODEL), version=served.version, role=CHAMPION,
            created_at=meta["model"].get("trained_at", ""), run_id=None, data_until=meta.get("data_until"),
            metrics={k: float(v) for k, v in (meta.get("backtest") or {}).items()},
        )
    return ModelsResponse(live_version=served.version if served else None, champion=champion, challengers=[],
                          registry="unavailable")


@router.get("/models", response_model=ModelsResponse)
async def get_models(_: PlannerDep, live: LiveDep,
                     limit: int = Query(10, description="most versions listed (1 to 50)")) -> ModelsResponse:
    """Which version is live, and the registered versions of the demand model, newest first.

    When the registry cannot be read, the served version as stored in needcast's database, with
    `registry: unavailable` (the forecasts keep being served from there).
    """
    try:
        return await run_in_threadpool(_from_registry, live, max(1, min(limit, 50)))
    except Exception as exc:  # the registry (MLflow) is down or broken: say so, never a 500
        log.warning("model registry unavailable for /v1/models (%s); answering from the store", type(exc).__name__)
        return _from_store(live)
