"""Jobs that cross the rooms: ingest files; train, then refresh what is served."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from features.contract import Kind
from features.history import load_events, load_feedback, load_usage
from features.ingest import IngestReport, ingest_frame
from features.readers import read_table
from features.store import get_engine
from forecast.needs import feedback_with_topics, load_needs, store_needs
from forecast.refresh import refresh_all, refresh_insights
from forecast.served import load_served, refresh_forecasts
from needcast.settings import Settings
from training.config import DemandConfig
from training.demand_training import DemandRun, train_demand
from training.needs_training import NeedsConfig, NeedsRun, train_needs
from training.registry import DEMAND_MODEL, champion_info, configure

Step = Callable[[str], None]


@dataclass
class TrainingResult:
    demand: DemandRun
    needs: NeedsRun | None
    refreshed: bool


def ingest_files(settings: Settings, files: dict[Kind, Path]) -> dict[str, IngestReport]:
    engine = get_engine(settings.db_url)
    return {kind.value: ingest_frame(engine, read_table(path), kind, source=str(path))
            for kind, path in files.items()}


def feedback_encoder(settings: Settings):
    """The configured sentence-transformers model behind the embedding cache, as an `encode` function."""
    from features.embeddings import CachedEncoder, TextEncoder

    encoder = TextEncoder.load(settings.embedding_model, settings.models_dir)
    return CachedEncoder(encoder, get_engine(settings.db_url)).encode


def run_training(settings: Settings, horizon: int | None = None, freq: str = "D", step: Step = lambda _m: None,
                 config: DemandConfig | None = None, with_needs: bool = True,
                 needs_config: NeedsConfig | None = None) -> TrainingResult:
    """Train the needs and demand models; refresh what is served when a champion moved."""
    engine = get_engine(settings.db_url)
    client = configure(settings.mlflow_tracking_uri)
    usage = load_usage(engine)
    if usage.empty:
        raise LookupError("no usage data: run `needcast ingest usage FILE` first")
    feedback = load_feedback(engine)
    encode = None
    needs_run = None
    needs_config = needs_config or NeedsConfig(history_days=settings.needs_history_days)
    if with_needs and len(feedback) >= 2:
        step("loading the embedding model")
        encode = feedback_encoder(settings)
        previous = load_needs(engine)
        needs_run = train_needs(feedback, encode, client, settings.mlflow_artifact_root,
                                previous.snapshot if previous else None, encoder_name=settings.embedding_model,
                                config=needs_config, step=step)
        store_needs(engine, needs_run.snapshot)
    if config is None:
        config = DemandConfig(freq=freq, horizon=horizon, country=settings.country)
        if settings.feedback_features is not None:
            config = replace(config, use_feedback=settings.feedback_features)
    demand_feedback = feedback[["created_at", "segment", "service", "rating"]]
    if config.use_feedback and needs_run is not None:
        step("labelling feedback with the needs topics")  # embeddings come from the cache filled just above
        demand_feedback = feedback_with_topics(feedback[[*demand_feedback.columns, "text"]], encode,
                                               needs_run.snapshot, needs_config.days_used)
    run = train_demand(usage, demand_feedback, client, settings.mlflow_artifact_root, config, step,
                       events=load_events(engine))
    champ = champion_info(client, DEMAND_MODEL)
    refreshed = False
    if champ is not None and (run.promoted or load_served(engine, champ.version) is None):
        step("computing served forecasts with the champion")
        served = refresh_forecasts(engine, client, encode, needs_config.days_used)
        refreshed = True
    else:
        served = load_served(engine, champ.version) if champ else None
    if served is not None:
        step("computing segments and suggestions")
        refresh_insights(engine, served, needs_run.snapshot if needs_run else None, encode)
    return TrainingResult(run, needs_run, refreshed)


def refresh_served(settings: Settings, step: Step = lambda _m: None) -> None:
    """Forecasts, needs and suggestions recomputed from the latest data with the champions."""
    engine = get_engine(settings.db_url)
    encode = feedback_encoder(settings) if not load_feedback(engine, ["id"]).empty else None
    refresh_all(engine, configure(settings.mlflow_tracking_uri), encode, step, settings.needs_history_days)
