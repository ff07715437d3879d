"""Known events: a planned event registered after training lifts the next served forecast over its days only."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from features.contract import Kind
from features.events import add_event, parse_event
from features.ingest import ingest_frame
from features.series import series_frame
from forecast.served import load_served
from needcast.cli import app
from needcast.jobs import run_training
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_events
from training.config import DemandConfig
from training.demand_model import with_events_in_history
from training.registry import champion_info, configure

END = date(2026, 6, 30)
LIFT = 1.6


def _campaign_world(days: int = 560, seed: int = 3) -> tuple[pd.DataFrame, list[tuple[date, date]]]:
    """Usage of 8 series with a weekly cycle; past two-week campaigns lift `svc0` x `seg0` in every region."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=END, periods=days, freq="D")
    starts = [dates[i].date() for i in range(120, days - 30, 90)]
    campaigns = [(s, s + timedelta(days=13)) for s in starts]
    in_campaign = np.zeros(days, bool)
    for s, e in campaigns:
        in_campaign |= (dates.date >= s) & (dates.date <= e)
    frames = []
    for service in ("svc0", "svc1"):
        for segment in ("seg0", "seg1"):
            for region in ("north", "south"):
                lam = rng.uniform(8, 20) * np.where(dates.dayofweek >= 5, 0.3, 1.0)
                if (service, segment) == ("svc0", "seg0"):
                    lam = lam * np.where(in_campaign, LIFT, 1.0)
                frames.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "service": service,
                                            "segment": segment, "region": region, "count": rng.poisson(lam)}))
    return pd.concat(frames, ignore_index=True), campaigns


def test_events_are_used_only_when_one_overlaps_the_history() -> None:
    usage, campaigns = _campaign_world()
    series = series_frame(usage.assign(date=pd.to_datetime(usage["date"]), count=usage["count"].astype(float)))
    planned = pd.DataFrame({"start": [pd.Timestamp("2026-07-10")], "end": [pd.Timestamp("2026-07-20")]})
    past = pd.DataFrame({"start": [pd.Timestamp(campaigns[0][0])], "end": [pd.Timestamp(campaigns[0][1])]})
    config = DemandConfig()
    assert not with_events_in_history(config, series, None).use_events
    assert not with_events_in_history(config, series, planned).use_events
    assert with_events_in_history(config, series, pd.concat([planned, past])).use_events
    params = {k: str(v) for k, v in config.as_params().items()}
    assert DemandConfig.from_params(params).as_params() == config.as_params()
    assert DemandConfig.from_params(params).use_events
    assert not DemandConfig.from_params({k: v for k, v in params.items() if k != "use_events"}).use_events


def test_a_planned_event_lifts_the_next_served_forecast_over_its_days(settings: Settings) -> None:
    usage, campaigns = _campaign_world()
    engine = get_engine(settings.db_url)
    ingest_frame(engine, usage, Kind.usage)
    for i, (start, end) in enumerate(campaigns):
        add_event(engine, parse_event(f"СМС-рассылка {i}", start, end, services=["svc0"], segments=["seg0"]))
    run = run_training(settings, config=DemandConfig(backtest_windows=2), with_needs=False).demand
    client = configure(settings.mlflow_tracking_uri)
    assert client.get_run(run.run_id).data.params["use_events"] == "True"
    before = load_served(engine, champion_info(client).version).table

    planned = (END + timedelta(days=8), END + timedelta(days=21))
    runner = CliRunner()
    added = runner.invoke(app, ["events", "add", "--name", "Рассылка о пособии", "--start", str(planned[0]),
                                "--end", str(planned[1]), "--service", "svc0", "--segment", "seg0"])
    assert added.exit_code == 0, added.output
    assert len(load_events(engine)) == len(campaigns) + 1
    refreshed = runner.invoke(app, ["refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    after = load_served(engine, champion_info(client).version).table

    both = before.merge(after, on=["service", "segment", "region", "date"], suffixes=("_before", "_after"))
    touched = ((both["service"] == "svc0") & (both["segment"] == "seg0")
               & both["date"].between(pd.Timestamp(planned[0]), pd.Timestamp(planned[1])))
    lifted = both.loc[touched, "mean_after"].sum() / both.loc[touched, "mean_before"].sum()
    assert lifted > 1.15, lifted  # the model learned the past campaigns' lift of 1.6 and applies it
    assert (both.loc[touched, "p50_after"] >= both.loc[touched, "p50_before"]).all()
    # Series the event does not touch keep their forecast, and so do the days before it.
    untouched = (both["service"] != "svc0") | (both["segment"] != "seg0")
    np.testing.assert_allclose(both.loc[untouched, "mean_after"], both.loc[untouched, "mean_before"])
    early = ~untouched & (both["date"] < pd.Timestamp(planned[0]))
    np.testing.assert_allclose(both.loc[early, "mean_after"], both.loc[early, "mean_before"])
