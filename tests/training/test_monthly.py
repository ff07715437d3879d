"""`needcast train --freq M` on a FixMyStreet slice: trains, registers, refreshes and serves calendar months."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from bench.data import SHARED_DATA
from features.series import series_frame
from forecast.served import load_served
from needcast.cli import app
from needcast.settings import Settings
from store.engine import get_engine
from tests.conftest import API_KEYS, skip_unless_required

FMS = SHARED_DATA / "fixmystreet_uk_lad_month_category_2007_2020.csv.gz"
PLANNER = {"Authorization": "Bearer " + next(k.split(":")[0] for k in API_KEYS.split(",") if k.endswith(":planner"))}
runner = CliRunner()


def _fms_slice(folder: Path) -> Path:
    """Three broad categories x three districts, 2015-2020: usage rows dated the first of each month."""
    if not FMS.exists():
        skip_unless_required(f"{FMS} is absent (the shared FixMyStreet file; NEEDCAST_SHARED_DATA points to it)")
    raw = pd.read_csv(FMS, usecols=["month", "lad", "level", "category_code", "reports"])
    raw = raw[(raw["level"] == "SHEF_C") & raw["lad"].isin(["E06000060", "E09000006", "E09000023"])
              & raw["category_code"].isin(["C2", "C3", "C7"]) & (raw["month"] >= "2015-01")]
    usage = pd.DataFrame({"date": raw["month"] + "-01", "service": raw["category_code"], "segment": raw["lad"],
                          "count": raw["reports"]})
    path = folder / "fms.csv"
    usage.to_csv(path, index=False)
    return path


def test_monthly_series_keep_only_complete_calendar_months() -> None:
    daily = pd.DataFrame({"date": pd.to_datetime(["2026-01-31", "2026-02-10", "2026-03-15"]), "service": "s",
                          "segment": "g", "region": "r", "count": [1, 2, 3]})
    frame = series_frame(daily, "M")
    assert list(frame["ds"].dt.strftime("%Y-%m-%d")) == ["2026-01-01", "2026-02-01"]  # March is not over
    assert list(frame["y"]) == [1.0, 2.0]
    assert list(series_frame(daily, "M", data_until=pd.Timestamp("2026-03-31"))["y"]) == [1.0, 2.0, 3.0]
    # Monthly records (every date the 1st) are whole months, the last one included; empty months are zeros.
    monthly = daily.assign(date=pd.to_datetime(["2025-11-01", "2026-01-01", "2026-03-01"]))
    frame = series_frame(monthly, "M")
    assert list(frame["ds"].dt.month) == [11, 12, 1, 2, 3] and list(frame["y"]) == [1.0, 0.0, 2.0, 0.0, 3.0]


def test_train_monthly_then_refresh_and_serve_months(settings: Settings, tmp_path: Path) -> None:
    usage = _fms_slice(tmp_path)
    assert runner.invoke(app, ["ingest", "usage", str(usage)]).exit_code == 0
    trained = runner.invoke(app, ["train", "--freq", "M"])
    assert trained.exit_code == 0, trained.output
    assert "needcast-demand v1: champion" in trained.stdout
    assert ".. 2020-12-01" in trained.stdout  # December 2020, recorded as 2020-12-01, is a whole month
    refreshed = runner.invoke(app, ["refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    # The registered model carries the dependence of months within a quarter, fitted on its backtest.
    served = load_served(get_engine(settings.db_url), "1")
    quarter_rows = [r for r in served.period_dependence if r["period"] == "Q"]
    assert {tuple(r["summed"]) for r in quarter_rows} >= {(), ("service", "segment", "region")}
    assert all(0 <= r["kappa_lo"] <= 4 and r["rows"] > 0 for r in quarter_rows)

    with TestClient(create_app(settings)) as client:
        body = client.get("/v1/forecasts", params={"service": "C3", "segment": "E09000006"}, headers=PLANNER).json()
        assert body["freq"] == "M" and body["data_until"] == "2020-12-01"
        assert [i["date"] for i in body["items"]] == [f"2021-0{m}-01" for m in range(1, 7)]
        assert all(0 <= i["p10"] <= i["p50"] <= i["p90"] for i in body["items"])
        first_two = client.get("/v1/forecasts", params={"service": "C3", "segment": "E09000006", "horizon": 2},
                               headers=PLANNER).json()["items"]
        assert [i["date"] for i in first_two] == ["2021-01-01", "2021-02-01"]

        quarters = client.get("/v1/forecasts", params={"service": "C3", "segment": "E09000006", "period": "quarter"},
                              headers=PLANNER).json()
        assert quarters["period"] == "quarter"
        q = quarters["items"]
        assert [(i["date"], i["period_end"], i["days"], i["partial"]) for i in q] == [
            ("2021-01-01", "2021-03-31", 90, False), ("2021-04-01", "2021-06-30", 91, False)]
        months = body["items"]
        assert q[0]["mean"] == pytest.approx(sum(m["mean"] for m in months[:3]), rel=1e-6)
        # Months of a quarter never err less than independently (the calibrated kappa is >= 0).
        independent = sum((m["p90"] - m["mean"]) ** 2 for m in months[:3]) ** 0.5
        assert q[0]["p90"] - q[0]["mean"] >= independent - 1e-6 and q[0]["p10"] <= q[0]["p50"] <= q[0]["p90"]

        # A quarter's drivers are the sums of its months': they still add up to its mean.
        explained = client.get("/v1/forecasts", params={"service": "C3", "segment": "E09000006", "period": "quarter",
                                                        "explain": "true"}, headers=PLANNER).json()["items"]
        assert [sum(i["drivers"].values()) for i in explained] == pytest.approx([i["mean"] for i in q], abs=0.01)

        # Segments compare the forecast per day with recent demand per day, whatever the model's periods.
        segments = client.get("/v1/segments", headers=PLANNER).json()["items"]
        assert all(-0.8 < s["trend"] < 1.5 for s in segments), [s["trend"] for s in segments]

        refused = client.get("/v1/forecasts", params={"period": "week"}, headers=PLANNER)
        assert refused.status_code == 422 and "period" in refused.json()["detail"]

    # The CLI sums the same way and refuses the same periods.
    printed = runner.invoke(app, ["forecast", "--service", "C3", "--segment", "E09000006", "--period", "quarter"])
    assert printed.exit_code == 0, printed.output
    assert "2021-01-01" in printed.stdout and "2021-04-01" in printed.stdout and "2021-02-01" not in printed.stdout
    assert f"{q[0]['p50']:.1f}" in printed.stdout
    weekly = runner.invoke(app, ["forecast", "--service", "C3", "--segment", "E09000006", "--period", "week"])
    assert weekly.exit_code == 1 and "--period" in weekly.output
