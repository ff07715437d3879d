"""Needs end to end on a small generated world: train with MLflow, store, serve from memory, HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import needs as needs_routes
from features.contract import Kind
from features.feedback_features import frequent_topics, topic_share_columns
from features.ingest import ingest_frame
from features.series import series_frame
from forecast.needs import (
    NeedsCache,
    assign_feedback_topics,
    feedback_with_topics,
    load_needs,
    refresh_needs,
    store_needs,
)
from forecast.served import load_champion_forecaster, refresh_forecasts
from needcast.sample_data import generate_world
from needcast.settings import DEFAULT_EMBEDDING_MODEL, Settings
from store.engine import get_engine
from text.encoders import TextEncoder
from training.config import DemandConfig
from training.demand_model import model_frame
from training.demand_training import train_demand
from training.emergence import EmergenceConfig
from training.needs_training import NeedsConfig, NeedsRun, fit_needs, prepare_feedback, train_needs
from training.registry import CHAMPION, NEEDS_MODEL, champion_info, configure
from training.topics import TopicConfig

CONFIG = NeedsConfig(topics=TopicConfig(texts_per_topic=20, recent_texts_per_topic=10),
                     emergence=EmergenceConfig(recent_days=21, baseline_days=42))
PLANNER = {"Authorization": "Bearer plan-key"}


Encode = Callable[[list[str]], np.ndarray]


class Trained(NamedTuple):
    uri: str
    artifact_root: str
    run: NeedsRun


@pytest.fixture(scope="module")
def encode() -> Encode:
    """The real bundled encoder, remembering vectors as the production `CachedEncoder` does."""
    encoder = TextEncoder.load(DEFAULT_EMBEDDING_MODEL, Settings().models_dir)
    seen: dict[str, np.ndarray] = {}

    def encode(texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in seen]
        seen.update(zip(todo, encoder.encode(todo), strict=True))
        return np.stack([seen[t] for t in texts])

    return encode


def _world(tmp_path_factory: pytest.TempPathFactory):
    return generate_world(tmp_path_factory.mktemp("world"), world="sample", seed=7)


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The last 9 weeks of the sample world, a quarter of its texts (shares kept, volume cut)."""
    frame = pd.read_csv(_world(tmp_path_factory).feedback, parse_dates=["created_at"])
    frame = frame[frame["created_at"] >= frame["created_at"].max() - pd.Timedelta(days=63)]
    return frame.sample(frac=0.25, random_state=1).sort_values("created_at", ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, feedback: pd.DataFrame, encode: Encode) -> Trained:
    """One needs run in a registry of this module's own."""
    folder = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{folder}/mlflow.db"
    run = train_needs(feedback, encode, configure(uri), str(folder), config=CONFIG)
    return Trained(uri, str(folder), run)


@pytest.fixture
def client(settings: Settings) -> TestClient:
    # Every topic counted here: small-cell suppression has its own tests (tests/forecast/test_small_cells.py).
    app = create_app(settings.model_copy(update={"min_cell": 1}))
    if not any(getattr(r, "path", "").startswith("/v1/needs") for r in app.routes):
        app.include_router(needs_routes.router)
    return TestClient(app)


def test_train_store_and_serve_needs(settings: Settings, feedback: pd.DataFrame, encode: Encode, trained: Trained,
                                     client: TestClient) -> None:
    # Nothing trained yet: empty lists, not errors.
    assert client.get("/v1/needs/emerging", headers=PLANNER).json()["items"] == []
    assert client.get("/v1/needs/topics?segment=youth", headers=PLANNER).json()["items"] == []

    run = trained.run
    mlflow_client = configure(trained.uri)
    assert run.promoted and champion_info(mlflow_client, NEEDS_MODEL).version == run.version
    logged = mlflow_client.get_run(run.run_id)
    assert {"silhouette", "topics", "emerging"} <= set(logged.data.metrics)
    assert logged.data.params["recent_days"] == "21" and logged.data.tags["decision"] == "promoted"
    reports = {a.path for a in mlflow_client.list_artifacts(run.run_id, "reports")}
    assert {"reports/topics.csv", "reports/emerging.json"} <= reports

    snap = run.snapshot
    assert snap.model["name"] == NEEDS_MODEL and snap.model["version"] == run.version
    assert any(item["segment"] == "pensioners" for item in snap.emerging)
    engine = get_engine(settings.db_url)
    store_needs(engine, snap)
    served = load_needs(engine)
    assert served is not None and served.snapshot.emerging == snap.emerging
    assert np.allclose(served.snapshot.topic_set.centroids, snap.topic_set.centroids, atol=1e-5)

    body = client.get("/v1/needs/emerging?segment=pensioners&limit=3", headers=PLANNER).json()
    assert 1 <= len(body["items"]) <= 3 and body["model"]["name"] == NEEDS_MODEL
    item = body["items"][0]
    assert set(item) >= {"topic_id", "label", "keywords", "segment", "recent_count", "baseline_count", "growth",
                         "score", "first_seen", "examples"}
    assert item["examples"] and set(item["examples"][0]) == {"id", "text", "created_at"}
    assert set(feedback["id"]) >= {e["id"] for e in item["examples"]}
    scores = [i["score"] for i in client.get("/v1/needs/emerging", headers=PLANNER).json()["items"]]
    assert scores == sorted(scores, reverse=True)

    topics = client.get("/v1/needs/topics", headers=PLANNER).json()
    assert topics["freq"] == "W" and len(topics["items"]) == len(snap.topic_set.ids)
    assert sum(t["count"] for t in topics["items"]) == len(feedback)
    one = client.get("/v1/needs/topics?segment=youth", headers=PLANNER).json()["items"]
    assert sum(t["count"] for t in one) == (feedback["segment"] == "youth").sum()
    assert all(set(t["segments"]) == {"youth"} for t in one)
    assert one[0]["volume"][0].keys() == {"period", "count", "suppressed"}

    # Bad input: 404 for a segment nobody wrote from, 422 for a bad limit, 401/403 without the role.
    missing = client.get("/v1/needs/emerging?segment=martians", headers=PLANNER)
    assert missing.status_code == 404 and "martians" in missing.json()["detail"]
    assert client.get("/v1/needs/topics?segment=martians", headers=PLANNER).status_code == 404
    assert client.get("/v1/needs/emerging?limit=0", headers=PLANNER).status_code == 422
    assert client.get("/v1/needs/emerging").status_code == 401
    assert client.get("/v1/needs/emerging", headers={"X-API-Key": "portal-key"}).status_code == 403

    # The pyfunc maps texts to the same topics as the served centroids.
    model = mlflow.pyfunc.load_model(f"models:/{NEEDS_MODEL}@{CHAMPION}")
    texts = feedback["text"].head(20)
    pred = model.predict(pd.DataFrame({"text": texts}))
    assigned = assign_feedback_topics(feedback.head(20), encode, snap)
    assert pred["topic_id"].tolist() == assigned.tolist() and pred["label"].str.len().gt(0).all()


def test_retrain_keeps_ids_and_a_worse_challenger_does_not_serve(feedback: pd.DataFrame, encode: Encode,
                                                               trained: Trained) -> None:
    first = trained.run
    mlflow_client = configure(trained.uri)
    again = train_needs(feedback, encode, mlflow_client, trained.artifact_root, previous=first.snapshot,
                        config=CONFIG)
    assert again.promoted  # same data, same silhouette: not worse
    assert sorted(again.snapshot.topic_set.ids) == sorted(first.snapshot.topic_set.ids)
    assert [i["topic_id"] for i in again.snapshot.emerging] == [i["topic_id"] for i in first.snapshot.emerging]

    coarse = NeedsConfig(topics=TopicConfig(k_candidates=(2,), texts_per_topic=10_000), emergence=CONFIG.emergence)
    worse = train_needs(feedback, encode, mlflow_client, trained.artifact_root, previous=again.snapshot,
                        config=coarse)
    assert not worse.promoted and worse.champion_silhouette > worse.metrics["silhouette"]
    assert champion_info(mlflow_client, NEEDS_MODEL).version == again.version
    assert worse.snapshot.model["version"] == again.version  # served: the champion's topics on new data
    assert sorted(worse.snapshot.topic_set.ids) == sorted(again.snapshot.topic_set.ids)


def test_refresh_without_refit_and_cache_reload(settings: Settings, feedback: pd.DataFrame,
                                                encode: Encode) -> None:
    early = prepare_feedback(feedback, feedback["created_at"].max() - pd.Timedelta(days=7), CONFIG.history_days)
    as_of = early["created_at"].max().normalize()
    snapshot = fit_needs(early, encode(early["text"].tolist()), as_of, CONFIG).snapshot
    engine = get_engine(settings.db_url)
    cache = NeedsCache(engine, ttl_s=0.0)
    assert cache.get() is None
    store_needs(engine, snapshot)
    before = cache.get()
    assert before is not None and before.snapshot.data_until == snapshot.data_until

    fresh = refresh_needs(feedback, encode, snapshot, config=CONFIG)
    assert fresh.data_until > snapshot.data_until
    assert np.array_equal(fresh.topic_set.ids, snapshot.topic_set.ids) and fresh.model == snapshot.model
    store_needs(engine, fresh)
    after = cache.get()
    assert after is not None and after is not before and after.snapshot.data_until == fresh.data_until


def test_served_queries_filter_and_limit(tmp_path: Path) -> None:
    from training.needs_snapshot import NeedsSnapshot
    from training.topics import TopicSet

    volumes = pd.DataFrame({"topic_id": [0, 0, 1], "segment": ["a", "b", "b"],
                            "period": pd.to_datetime(["2026-10-05", "2026-10-12", "2026-10-12"]),
                            "count": [3, 4, 5]})
    items = [{"topic_id": t, "segment": s, "score": 10.0 - t} for t, s in [(0, "a"), (1, "b"), (2, "b")]]
    snap = NeedsSnapshot({}, "2026-10-14", "2026-10-14", "W",
                         [{"topic_id": 0, "label": "x", "keywords": [], "count": 7},
                          {"topic_id": 1, "label": "y", "keywords": [], "count": 5}],
                         volumes, items, TopicSet(np.array([0, 1]), np.eye(2, 3, dtype=np.float32),
                                                  np.zeros(3, np.float32), 2), {})
    from forecast.needs import ServedNeeds

    served = ServedNeeds(NeedsSnapshot.from_doc(snap.to_doc()))
    assert [i["topic_id"] for i in served.emerging("b", limit=1)] == [1]
    assert len(served.emerging()) == 3 and served.segments == ["a", "b"]
    assert [(t["topic_id"], t["count"]) for t in served.topics("b")] == [(1, 5), (0, 4)]
    assert served.topics("a")[0]["volume"] == [{"period": "2026-10-05", "count": 3}]


def test_demand_topic_shares_come_from_the_served_needs_topics(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, feedback: pd.DataFrame, encode: Encode,
    trained: Trained,
) -> None:
    snap = trained.run.snapshot
    labelled = feedback_with_topics(feedback, encode, snap, history_days=14)
    recent = feedback["created_at"] >= feedback["created_at"].max().normalize() - pd.Timedelta(days=13)
    assert "text" not in labelled and labelled.loc[recent, "topic"].notna().all()
    assert labelled.loc[~recent, "topic"].isna().all() and labelled["topic"].dropna().isin(snap.topic_set.ids).all()
    assert feedback_with_topics(feedback, None, snap, 14)["topic"].isna().all()

    # Trained with the topics of the needs run's texts, refreshed with or without the encoder: never a crash.
    labelled = feedback_with_topics(feedback, encode, snap, history_days=63)
    usage = pd.read_csv(_world(tmp_path_factory).usage, parse_dates=["date"])
    usage = usage[usage["service"].isin(feedback["service"].value_counts().index[:2])]
    client = configure(settings.mlflow_tracking_uri)
    config = DemandConfig(use_feedback=True, backtest_windows=1,
                          lgbm={"n_estimators": 20, "num_leaves": 7, "verbosity": -1, "n_jobs": 1})
    run = train_demand(usage, labelled, client, settings.mlflow_artifact_root, config)
    topics = frequent_topics(labelled)
    assert len(topics) == 5 and client.get_run(run.run_id).data.params["feedback_topics"] == str(list(topics))
    _, forecaster = load_champion_forecaster(client)
    assert forecaster.config.feedback_topics == topics
    shares = model_frame(series_frame(usage), labelled, forecaster.config)[topic_share_columns(5)]
    assert shares.notna().any().all() and shares.isna().any().all()  # missing before the needs history

    engine = get_engine(settings.db_url)
    ingest_frame(engine, usage.assign(date=usage["date"].dt.date), Kind.usage)
    ingest_frame(engine, feedback, Kind.feedback)
    store_needs(engine, snap)
    with_topics = refresh_forecasts(engine, client, encode, needs_history_days=63).table
    without = refresh_forecasts(engine, client).table
    assert len(with_topics) == len(without) > 0
    assert np.isfinite(with_topics["p50"]).all() and np.isfinite(without["p50"]).all()
