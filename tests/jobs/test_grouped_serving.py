"""Large panels: training reads the sampled series only, and serving forecasts and stores the series group by group,
with the answers a whole read gives."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import SERIES_KEY, Kind
from features.ingest import ingest_frame
from features.series import series_frame, split_series_id
from forecast.insights import build_insights
from forecast.refresh import daily_rates, insights_usage, refresh_insights
from forecast.served import forecast_groups, load_served, refresh_forecasts, serving_start
from jobs.tasks import run_training, training_window
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_feedback, load_series_spans, load_services, load_usage
from tests.conftest import make_usage
from training.backtest import run_backtest
from training.config import SAMPLED_PANEL, DemandConfig
from training.demand_model import fit_forecaster, model_frame, training_sample
from training.registry import configure

LGBM = {**DemandConfig().lgbm, "n_estimators": 30, "num_leaves": 15}
CONFIG = DemandConfig(horizon=7, max_train_series=4, backtest_windows=2, backtest_refit=False, lgbm=LGBM)
END = pd.Timestamp("2026-06-30")


def _world() -> pd.DataFrame:
    """8 regular series over 900 days, one that asks every 40 days (zero runs longer than a group's read reaches
    back), one that started 60 days ago, and one last seen 950 days ago (outside the training window)."""
    usage = make_usage(days=900, services=4, segments=2, end=str(END.date()))
    days = pd.date_range(end=END, periods=900, freq="D")
    sparse = pd.DataFrame({"date": days[::40], "service": "rare", "segment": "seg0", "region": "all", "count": 2})
    new = pd.DataFrame({"date": days[-60:], "service": "new", "segment": "seg1", "region": "all", "count": 5})
    gone = pd.DataFrame({"date": [END - pd.Timedelta(days=950)], "service": "gone", "segment": "seg0",
                         "region": "all", "count": 4})
    usage = pd.concat([usage, sparse, new, gone], ignore_index=True)
    return usage[usage["count"] > 0].astype({"count": str, "date": str}).reset_index(drop=True)


@pytest.fixture
def store(settings: Settings) -> Settings:
    ingest_frame(get_engine(settings.db_url), _world(), Kind.usage)
    return settings


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values([*SERIES_KEY, "date"], ignore_index=True)


def test_the_cap_applies_beyond_the_sampled_panel_size_only() -> None:
    assert DemandConfig().for_panel(SAMPLED_PANEL) == DemandConfig()
    assert DemandConfig().for_panel(SAMPLED_PANEL + 1).max_train_series == SAMPLED_PANEL
    assert DemandConfig(max_train_series=300).for_panel(10 * SAMPLED_PANEL).max_train_series == 300
    logged = DemandConfig().for_panel(SAMPLED_PANEL + 1).as_params()
    assert DemandConfig.from_params({k: str(v) for k, v in logged.items()}).sampled


def test_grouped_forecasts_equal_a_forecast_of_the_whole_history(store: Settings) -> None:
    engine = get_engine(store.db_url)
    series = series_frame(load_usage(engine))
    frame = model_frame(training_sample(series, CONFIG.max_train_series), None, CONFIG)
    forecaster = fit_forecaster(frame, CONFIG, run_backtest(frame, CONFIG).calibration)
    spans = load_series_spans(engine)
    since = serving_start(spans["last"].max(), CONFIG)
    # Groups read from `since`: the sparse series and the one gone start before it, the new one after.
    assert spans["first"].min() < since < spans["last"].max() - pd.Timedelta(days=60)

    whole = forecaster.predict(series, None)
    whole = pd.concat([split_series_id(whole["unique_id"]), whole.drop(columns=["unique_id", "step"])], axis=1)
    grouped = pd.concat(forecast_groups(engine, forecaster, spans, None, None, group_series=3), ignore_index=True)

    assert len(grouped) == 7 * len(spans) == len(whole)
    pd.testing.assert_frame_equal(_sorted(grouped), _sorted(whole.rename(columns={"ds": "date"})),
                                  check_exact=False, rtol=1e-9, atol=1e-12)


def test_serving_reads_all_history_when_smoothing_blends_in() -> None:
    assert serving_start(END, DemandConfig(freq="W")) is None
    assert serving_start(END, DemandConfig(freq="W", smoothing_weight=0.0)).dayofweek == 0


def test_training_reads_only_the_sampled_series_of_its_window(store: Settings) -> None:
    engine = get_engine(store.db_url)
    window = training_window(engine, CONFIG)
    in_window = 10  # 8 regular, the sparse and the new series: the one gone is older than the window
    assert window.panel_series == in_window
    assert window.usage.groupby(SERIES_KEY).ngroups == CONFIG.max_train_series
    whole = series_frame(load_usage(engine, since=window.usage["date"].min()))
    assert whole["unique_id"].nunique() == in_window
    # The same seeded sample as training_sample draws from the whole window.
    sampled = training_sample(whole, CONFIG.max_train_series)
    assert set(series_frame(window.usage)["unique_id"]) == set(sampled["unique_id"])
    assert training_window(engine, DemandConfig()).panel_series is None  # a small panel reads every series


def test_needcast_train_on_a_sampled_panel_serves_every_series_in_groups(store: Settings) -> None:
    result = run_training(store, config=CONFIG, with_needs=False)
    engine = get_engine(store.db_url)
    client = configure(store.mlflow_tracking_uri)
    tags = client.get_run(result.demand.run_id).data.tags
    assert (tags["series"], tags["train_series"]) == ("10", "4")
    assert client.get_run(result.demand.run_id).data.params["max_train_series"] == "4"

    served = load_served(engine, result.demand.version)
    spans = load_series_spans(engine)
    assert len(served.table) == 7 * len(spans)  # every stored series, the one gone too, as a whole read serves it
    regrouped = refresh_forecasts(engine, client, group_series=4)
    assert len(regrouped.table) == len(served.table)
    again = load_served(engine, result.demand.version).table
    pd.testing.assert_frame_equal(again, served.table, check_exact=False, rtol=1e-9)

    # Segments and suggestions from a few weeks of rows are the whole history's.
    assert len(insights_usage(engine)) < len(load_usage(engine)) / 10
    whole = build_insights(load_usage(engine), load_feedback(engine, ["created_at", "segment", "service", "rating"]),
                           daily_rates(served.table, "D"), load_services(engine), [], None)
    assert refresh_insights(engine, served, None, None) == whole


def test_postgres_streams_each_group_once_as_its_own_read_would() -> None:
    from store.reads import usage_groups
    from tests.conftest import skip_unless_required
    from tests.postgres import postgres_server

    with postgres_server() as url:
        if url is None:
            skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found)")
        engine = get_engine(url)
        ingest_frame(engine, _world(), Kind.usage)
        spans = load_series_spans(engine)
        since = END - pd.Timedelta(days=300)
        # Group 1 holds only the series gone 950 days ago: no row in the window.
        order = spans.assign(gone=spans["service"] == "gone").sort_values("gone", kind="stable")
        numbered = order.assign(group=[0, 0, 0, 2, 2, 3, 3, 3, 3, 3, 1][: len(order)])
        got = list(usage_groups(engine, numbered, since, chunk_bytes=2_000))  # chunks cut through groups
        assert [number for number, _ in got] == [0, 1, 2, 3]
        for number, usage in got:
            own = load_usage(engine, since=since, series=numbered[numbered["group"] == number])
            pd.testing.assert_frame_equal(_sorted(usage), _sorted(own), check_dtype=False)
        assert got[1][1].empty
        engine.dispose()
