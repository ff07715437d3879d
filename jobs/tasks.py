"""What the jobs do, across the rooms: ingest files; train, then refresh what is served; backfill embeddings.

The worker runs them by kind (`TASKS`); the CLI calls `run_training` and `refresh_served` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from features.contract import Kind
from features.ingest import IngestReport, ingest_frame
from features.readers import read_table
from features.series import series_id
from forecast.needs import feedback_with_topics, load_needs, store_needs
from forecast.refresh import refresh_all, refresh_insights
from forecast.served import ServedForecasts, load_served, refresh_forecasts
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_events, load_feedback, load_series_spans, load_usage
from training.config import DemandConfig
from training.demand_model import sample_ids
from training.demand_training import DemandRun, history_start, train_demand
from training.distributed import training_engine
from training.needs_training import NeedsConfig, NeedsRun, train_needs
from training.registry import DEMAND_MODEL, NEEDS_MODEL, champion_info, configure

Step = Callable[[str], None]
log = logging.getLogger(__name__)


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
    from text.embedding_cache import CachedEncoder
    from text.encoders import TextEncoder

    encoder = TextEncoder.load(settings.embedding_model, settings.models_dir)
    return CachedEncoder(encoder, get_engine(settings.db_url)).encode


@dataclass
class TrainingWindow:
    """What a demand training run reads, and the config it resolved for the panel."""

    usage: pd.DataFrame
    config: DemandConfig  # with the panel's sample cap (`DemandConfig.for_panel`)
    panel_series: int | None  # the panel's series count when `usage` holds only the sampled series; None: all


def training_window(engine: Engine, config: DemandConfig) -> TrainingWindow:
    """The usage a demand training run reads: its window (`training.demand_training.history_start`) only, and
    beyond `training.config.SAMPLED_PANEL` series only the seeded sample's rows (`training_sample` would keep
    the same ids), so memory follows the sample, not the panel. The series come from one SQL `GROUP BY`.
    """
    spans = load_series_spans(engine)
    if spans.empty:
        raise LookupError("no usage data: run `needcast ingest usage FILE` first")
    since = history_start(spans["last"].max(), config)
    in_window = spans[spans["last"] >= since]
    config = config.for_panel(len(in_window))
    ids = series_id(in_window)
    chosen = sample_ids(ids, config.max_train_series)
    if chosen is None:
        return TrainingWindow(load_usage(engine, since=since), config, None)
    sample = in_window[ids.isin(chosen).to_numpy()]
    return TrainingWindow(load_usage(engine, since=since, series=sample), config, len(in_window))


def training_usage(engine: Engine, config: DemandConfig) -> pd.DataFrame:
    """The usage a demand training run reads (`training_window`)."""
    return training_window(engine, config).usage


@contextmanager
def quiet_registry() -> Iterator[None]:
    """MLflow's registry prints "Successfully registered model" and "Created version" on its own stream
    (`eprint`, no logger to configure) beside needcast's own report of the version: that stream is muted while
    training registers, and MLflow's logged warnings go through the process's logging meanwhile."""
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    logger = logging.getLogger("mlflow")
    enabled, propagate = stream.enabled, logger.propagate
    stream.enabled, logger.propagate = False, True
    try:
        yield
    finally:
        stream.enabled, logger.propagate = enabled, propagate


def _train_needs(settings: Settings, engine, client, feedback, needs_config: NeedsConfig,
                 step: Step) -> tuple[NeedsRun, Callable]:
    """Fit the needs model on the stored feedback and serve its snapshot; the run and the encoder it used."""
    step("loading the embedding model")
    encode = feedback_encoder(settings)
    previous = load_needs(engine)
    with quiet_registry():
        needs_run = train_needs(feedback, encode, client, settings.experiment_artifact_root,
                                previous.snapshot if previous else None, encoder_name=settings.embedding_model,
                                config=needs_config, step=step)
    store_needs(engine, needs_run.snapshot)
    return needs_run, encode


def run_training(settings: Settings, horizon: int | None = None, freq: str = "D", step: Step = lambda _m: None,
                 config: DemandConfig | None = None, with_needs: bool = True,
                 needs_config: NeedsConfig | None = None) -> TrainingResult:
    """Train the needs and demand models; refresh what is served when a champion moved."""
    shown = step

    def step(message: str) -> None:  # the steps also go to the log (timed there: NEEDCAST_LOG_LEVEL=INFO)
        log.info("training: %s", message)
        shown(message)

    engine = get_engine(settings.db_url)
    client = configure(settings.mlflow_tracking_uri)
    if config is None:
        config = DemandConfig(freq=freq, horizon=horizon, country=settings.country)
        if settings.feedback_features is not None:
            config = replace(config, use_feedback=settings.feedback_features)
    window = training_window(engine, config)
    feedback = load_feedback(engine)
    encode = None
    needs_run = None
    needs_config = needs_config or NeedsConfig(history_days=settings.needs_history_days)
    if with_needs and len(feedback) >= 2:
        needs_run, encode = _train_needs(settings, engine, client, feedback, needs_config, step)
    demand_feedback = feedback[["created_at", "segment", "service", "rating"]]
    if config.use_feedback and needs_run is not None:
        step("labelling feedback with the needs topics")  # embeddings come from the cache filled just above
        demand_feedback = feedback_with_topics(feedback[[*demand_feedback.columns, "text"]], encode,
                                               needs_run.snapshot, needs_config.days_used)
    with training_engine(settings.dask_scheduler) as dask, quiet_registry():
        run = train_demand(window.usage, demand_feedback, client, settings.experiment_artifact_root,
                           window.config, step, events=load_events(engine), dask=dask,
                           panel_series=window.panel_series)
    del window
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


def refresh_served(settings: Settings, step: Step = lambda _m: None) -> ServedForecasts:
    """Forecasts, needs and suggestions recomputed from the latest data with the champions."""
    engine = get_engine(settings.db_url)
    encode = feedback_encoder(settings) if not load_feedback(engine, ["id"]).empty else None
    return refresh_all(engine, configure(settings.mlflow_tracking_uri), encode, step,
                       settings.needs_history_days).forecasts


def train_needs_only(settings: Settings, step: Step = lambda _m: None) -> NeedsRun | None:
    """Train the needs model alone, then recompute segments and suggestions with it for the served forecasts.

    `needcast demo` serves the demand champion first and queues this (a `train` job with `models: ["needs"]`): the
    needs take longer than the demand model on a first run (every feedback text is embedded once)."""
    engine = get_engine(settings.db_url)
    client = configure(settings.mlflow_tracking_uri)
    feedback = load_feedback(engine)
    if len(feedback) < 2:
        return None
    needs_run, encode = _train_needs(settings, engine, client, feedback,
                                     NeedsConfig(history_days=settings.needs_history_days), step)
    champ = champion_info(client, DEMAND_MODEL)
    served = load_served(engine, champ.version) if champ else None
    if served is not None:
        step("computing segments and suggestions")
        refresh_insights(engine, served, needs_run.snapshot, encode)
    return needs_run


def train_job(settings: Settings, params: dict[str, Any], step: Step) -> dict[str, Any]:
    """The `train` job: `run_training` with the job's horizon and frequency; what the job reports at the end.

    `models: ["needs"]` in the params trains the needs model alone (`train_needs_only`)."""
    if params.get("models") == ["needs"]:
        needs_run = train_needs_only(settings, step)
        if needs_run is None:
            return {"model": NEEDS_MODEL, "version": None, "topics": 0, "emerging": 0}
        return {"model": NEEDS_MODEL, "version": needs_run.version, "champion_moved": needs_run.promoted,
                "topics": int(needs_run.metrics.get("topics", 0)), "emerging": len(needs_run.snapshot.emerging)}
    run = run_training(settings, horizon=params.get("horizon"), freq=params.get("freq") or "D", step=step).demand
    return {"model": DEMAND_MODEL, "version": run.version, "champion_moved": run.promoted,
            "champion_before": run.champion_before, "metrics": run.metrics, "naive_metrics": run.naive_metrics}


def refresh_job(settings: Settings, params: dict[str, Any], step: Step) -> dict[str, Any]:
    """The `refresh` job: served answers recomputed with the champions from the latest data."""
    served = refresh_served(settings, step)
    return {"model_version": served.version, "data_until": served.meta["data_until"], "rows": len(served.table)}


def embed_job(settings: Settings, params: dict[str, Any], step: Step, batch: int = 2_000) -> dict[str, Any]:
    """The `embed` backfill: every stored feedback text into the embedding cache, so training and refresh find
    them there (after a change of embedding model, or a large ingest)."""
    texts = load_feedback(get_engine(settings.db_url), ["text"])["text"].drop_duplicates().tolist()
    if not texts:
        return {"texts": 0}
    step("loading the embedding model")
    encode = feedback_encoder(settings)
    for start in range(0, len(texts), batch):
        step(f"embedding texts {start + 1}..{min(start + batch, len(texts))} of {len(texts)}")
        encode(texts[start : start + batch])
    return {"texts": len(texts)}


def prune_job(settings: Settings, params: dict[str, Any], step: Step) -> dict[str, Any]:
    """The `prune` job (`needcast db prune` on the schedule): the live champion's answers are always kept, so an
    unreachable registry fails the job rather than guess."""
    from store.retention import prune

    champion = champion_info(configure(settings.mlflow_tracking_uri), DEMAND_MODEL)
    step("pruning")
    report = prune(get_engine(settings.db_url), settings.keep_model_versions, settings.retention_days,
                   protect=(champion.version,) if champion else ())
    return asdict(report)


TASKS: dict[str, Callable[[Settings, dict[str, Any], Step], dict[str, Any]]] = {
    "train": train_job, "refresh": refresh_job, "embed": embed_job, "prune": prune_job,
}
"""What the worker runs for each job kind (jobs.queue.KINDS)."""
