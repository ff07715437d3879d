"""Jobs that cross the rooms: ingest files, and train then refresh what is served."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from features.contract import Kind
from features.history import load_feedback, load_usage
from features.ingest import IngestReport, ingest_frame
from features.readers import read_table
from features.store import get_engine
from forecast.served import load_served, refresh_forecasts
from needcast.settings import Settings
from training.config import DemandConfig
from training.demand_training import DemandRun, train_demand
from training.registry import DEMAND_MODEL, champion_info, configure


@dataclass
class TrainingResult:
    demand: DemandRun
    refreshed: bool


def ingest_files(settings: Settings, files: dict[Kind, Path]) -> dict[str, IngestReport]:
    engine = get_engine(settings.db_url)
    return {kind.value: ingest_frame(engine, read_table(path), kind, source=str(path))
            for kind, path in files.items()}


def run_training(settings: Settings, horizon: int | None = None, freq: str = "D",
                 step: Callable[[str], None] = lambda _m: None, config: DemandConfig | None = None) -> TrainingResult:
    """Train the demand model; when the champion moved (or has no served forecasts), refresh them."""
    engine = get_engine(settings.db_url)
    client = configure(settings.mlflow_tracking_uri)
    usage = load_usage(engine)
    if usage.empty:
        raise LookupError("no usage data: run `needcast ingest usage FILE` first")
    feedback = load_feedback(engine, ["created_at", "segment", "service", "rating"])
    config = config or DemandConfig(freq=freq, horizon=horizon)
    run = train_demand(usage, feedback, client, settings.mlflow_artifact_root, config, step)
    champ = champion_info(client, DEMAND_MODEL)
    refreshed = False
    if champ is not None and (run.promoted or load_served(engine, champ.version) is None):
        step("computing served forecasts with the champion")
        refresh_forecasts(engine, client)
        refreshed = True
    return TrainingResult(run, refreshed)
