"""GET /v1/models: the champion and recent challengers with their backtest metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from api.deps import LiveDep, PlannerDep
from api.schemas import AUTH_ERRORS, ModelsResponse, ModelSummary
from training.registry import CHAMPION, DEMAND_MODEL, champion_info

router = APIRouter(prefix="/v1", tags=["models"], responses=AUTH_ERRORS)


@router.get("/models", response_model=ModelsResponse)
def get_models(_: PlannerDep, live: LiveDep, request: Request, limit: int = 10) -> ModelsResponse:
    """Which version is live, and the registered versions of the demand model, newest first."""
    client = live.client
    versions = sorted(client.search_model_versions(f"name='{DEMAND_MODEL}'"),
                      key=lambda v: int(v.version), reverse=True)
    # search results do not carry aliases: ask for the alias itself.
    champ = champion_info(client, DEMAND_MODEL)
    champion = None
    challengers = []
    for mv in versions[: max(1, min(limit, 50))]:
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
    return ModelsResponse(
        live_version=live.forecasts.version if live.forecasts else None,
        champion=champion,
        challengers=challengers,
    )
