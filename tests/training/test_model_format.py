"""Registered demand models as data: they load without needcast's classes, and the previous release's still load."""

from __future__ import annotations

import json
import pickletools
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.series import series_frame
from needcast.settings import Settings
from tests.conftest import make_usage
from tests.fixtures.release import RELEASE_MODEL, register_release_model
from training.config import DemandConfig
from training.demand_model import fit_forecaster, model_frame
from training.demand_training import train_demand
from training.model_format import config_from_json, config_to_json, load_forecaster, save_model_data
from training.registry import DEMAND_MODEL, configure

FAST = DemandConfig(backtest_windows=2, lgbm={**DemandConfig().lgbm, "n_estimators": 30, "num_leaves": 15})
NEEDCAST_PACKAGES = ("training", "features", "forecast", "needcast", "store", "api", "text", "jobs")


def _pickled_modules(path: Path) -> set[str]:
    """Top-level modules named by the globals a pickle file refers to."""
    data = path.read_bytes()
    names, strings = set(), []
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            names.add(strings[-2].split(".")[0])
        elif op.name == "GLOBAL":
            names.add(arg.split(" ")[0].split(".")[0])
    return names


def _pickled_modules_of(obj) -> set[str]:
    import cloudpickle

    path = Path(tempfile.mkdtemp()) / "obj.pkl"
    path.write_bytes(cloudpickle.dumps(obj))
    return _pickled_modules(path)


def test_the_previous_release_version_loads_and_forecasts_as_it_did(settings: Settings) -> None:
    version = register_release_model(settings.mlflow_tracking_uri)
    loaded = load_forecaster(f"models:/{DEMAND_MODEL}/{version}")
    assert loaded.format == "legacy-pickle" and loaded.aggregate_dependence is None
    usage = pd.read_csv(RELEASE_MODEL / "usage.csv.gz", parse_dates=["date"])
    pred = loaded.forecaster.predict(series_frame(usage, "D"), None)
    expected = pd.read_csv(RELEASE_MODEL / "expected_forecast.csv", parse_dates=["ds"])
    assert len(pred) == len(expected) == 4 * 28
    for col in ("p10", "p50", "p90", "mean"):
        assert pred[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=1e-9, abs=1e-9)


def test_a_new_version_is_data_that_loads_without_needcast(settings: Settings, tmp_path: Path) -> None:
    usage = make_usage(days=430, services=2, segments=2)
    run = train_demand(usage, None, configure(settings.mlflow_tracking_uri), settings.mlflow_artifact_root, FAST)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{DEMAND_MODEL}/{run.version}",
                                                      dst_path=str(tmp_path / "model")))
    spec = json.loads((folder / "artifacts" / "model.json").read_text())
    restored = config_from_json(spec["config"])  # the trained config: training settles events and backtest
    assert spec["format"] == 1 and config_to_json(restored) == spec["config"]
    assert (restored.freq, restored.lag_list, restored.lgbm) == (FAST.freq, FAST.lag_list, FAST.lgbm)
    assert {"mlforecast", "model.json", "calibration.csv"} <= {p.name for p in (folder / "artifacts").iterdir()}
    requirements = (folder / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} >= {"mlforecast", "lightgbm", "pandas", "mlflow"}
    assert all("==" in r for r in requirements)
    pickles = list(folder.rglob("*.pkl"))
    assert pickles and not set().union(*map(_pickled_modules, pickles)) & set(NEEDCAST_PACKAGES)

    # Loaded in a process where no needcast module can be imported, the model's data are all there.
    script = (
        "import sys\n"
        f"blocked = {NEEDCAST_PACKAGES!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in blocked: raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import mlflow\n"
        f"m = mlflow.pyfunc.load_model({str(folder)!r}).unwrap_python_model()\n"
        "print(len(m.mlf.ts.uids), m.spec['config']['freq'], len(m.calibration))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["4", "D"]

    # Through needcast, the loaded model forecasts what the fitted one did.
    loaded = load_forecaster(f"models:/{DEMAND_MODEL}/{run.version}")
    assert loaded.format == "data" and loaded.aggregate_dependence
    series = series_frame(usage, "D")
    pred = loaded.forecaster.predict(series, None)
    via_pyfunc = mlflow.pyfunc.load_model(f"models:/{DEMAND_MODEL}/{run.version}").predict(usage)
    assert pred["mean"].to_numpy() == pytest.approx(via_pyfunc["mean"].to_numpy())
    assert (pred["p10"] <= pred["p50"]).all() and (pred["p50"] <= pred["p90"]).all()


def test_week_of_year_is_saved_by_value(tmp_path: Path) -> None:
    config = DemandConfig(freq="W", backtest_windows=1, lgbm={**DemandConfig().lgbm, "n_estimators": 5})
    weekly = series_frame(make_usage(days=500, services=1, segments=2), "W")
    forecaster = fit_forecaster(model_frame(weekly, None, config), config, pd.DataFrame())
    save_model_data(forecaster, tmp_path)
    assert "training" not in _pickled_modules(tmp_path / "mlforecast" / "ts.pkl")
    assert "training" in _pickled_modules_of(forecaster.mlf.ts)  # what a plain pickle would have named


def test_config_round_trips_through_json() -> None:
    config = DemandConfig(freq="W", lags=(1, 2, 52), feedback_topics=(3, 5), use_feedback=True)
    assert config_from_json(json.loads(json.dumps(config_to_json(config)))) == config
    assert config_from_json({**config_to_json(config), "from_a_newer_release": 1}) == config
