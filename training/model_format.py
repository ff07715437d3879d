"""A registered demand model as data: mlforecast's own save format, a JSON spec and the calibration tables.

`log_demand_model` writes the artifacts and logs them with the loader `training/demand_loader.py` as model
code (no pickle of needcast's classes) and pinned pip requirements. `load_forecaster` turns a registered
version back into a `DemandForecaster`, whichever format it was saved in: versions of the previous release
are cloudpickles of `training.demand_pyfunc.DemandPyfunc` and load through that legacy path.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, fields
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo

import training.demand_model
from features.series import series_frame, split_series_id
from training.aggregate_intervals import LevelDependence, fit_aggregate_dependence
from training.config import DemandConfig
from training.demand_model import DemandForecaster
from training.period_intervals import PeriodDependence, fit_period_dependence

__all__ = [
    "FORMAT_VERSION", "LoadedDemandModel", "config_from_json", "config_to_json", "forecaster_from_data",
    "load_forecaster", "log_demand_model", "pip_requirements", "predict_usage", "save_model_data",
]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
LOADER = Path(__file__).with_name("demand_loader.py")
# What loading the data needs, pinned to the versions that wrote it (pickled LightGBM and mlforecast objects
# are only read back reliably by the same versions).
REQUIREMENTS = ("mlflow", "mlforecast", "lightgbm", "scikit-learn", "pandas", "numpy", "coreforecast",
                "utilsforecast", "statsforecast", "cloudpickle", "fsspec")
_TUPLES = {f.name for f in fields(DemandConfig) if "tuple" in str(f.type)}


@dataclass
class LoadedDemandModel:
    """A forecaster loaded from the registry and what else its version carries."""

    forecaster: DemandForecaster
    aggregate_dependence: LevelDependence | None  # forecast.aggregate's per-level table; None: not calibrated
    format: str  # "data" (this format) or "legacy-pickle"
    period_dependence: PeriodDependence | None = None  # forecast.periods' table; None: not calibrated


def pip_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def config_to_json(config: DemandConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def config_from_json(data: dict[str, Any]) -> DemandConfig:
    """Inverse of `config_to_json`; fields this release does not know are dropped with a warning."""
    known = {f.name for f in fields(DemandConfig)}
    if unknown := sorted(set(data) - known):
        log.warning("model config fields unknown to this release ignored: %s", ", ".join(unknown))
    kw = {k: (tuple(v) if k in _TUPLES and isinstance(v, list) else v) for k, v in data.items() if k in known}
    return DemandConfig(**kw)


def save_model_data(forecaster: DemandForecaster, folder: Path,
                    aggregate_dependence: LevelDependence | None = None,
                    period_dependence: PeriodDependence | None = None) -> dict[str, str]:
    """Write the model's artifacts into `folder`; returns MLflow's `artifacts` mapping (name -> path)."""
    folder.mkdir(parents=True, exist_ok=True)
    # Date features may be functions of training.demand_model (week of year): store them by value, so the
    # saved MLForecast does not name a needcast module.
    cloudpickle.register_pickle_by_value(training.demand_model)
    try:
        forecaster.mlf.save(folder / "mlforecast")
    finally:
        cloudpickle.unregister_pickle_by_value(training.demand_model)
    spec = {"format": FORMAT_VERSION, "config": config_to_json(forecaster.config),
            "trained_until": pd.Timestamp(forecaster.trained_until).isoformat(),
            "aggregate_dependence": aggregate_dependence, "period_dependence": period_dependence}
    (folder / "model.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    forecaster.calibration.to_csv(folder / "calibration.csv", index=False)
    return {"mlforecast": str(folder / "mlforecast"), "model": str(folder / "model.json"),
            "calibration": str(folder / "calibration.csv")}


def log_demand_model(forecaster: DemandForecaster, signature: ModelSignature, registered_model_name: str,
                     backtest_cv: pd.DataFrame | None = None) -> ModelInfo:
    """Log the model as data with its loader under the active run and register it as a new version.

    `backtest_cv` (cross-conformal backtest rows) calibrates the intervals of totals (`training.aggregate_intervals`)
    and of sums over weeks, months and quarters (`training.period_intervals`).
    """
    aggregate_dependence = period_dependence = None
    if backtest_cv is not None:
        aggregate_dependence = fit_aggregate_dependence(backtest_cv, forecaster.config.interval)
        period_dependence = fit_period_dependence(backtest_cv, forecaster.config.freq, forecaster.config.interval,
                                                  aggregate_dependence)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = save_model_data(forecaster, Path(tmp), aggregate_dependence, period_dependence)
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(LOADER), artifacts=artifacts, registered_model_name=registered_model_name,
            pip_requirements=pip_requirements(), signature=signature,
        )


def forecaster_from_data(model) -> DemandForecaster:
    """A `DemandForecaster` from a loaded `DemandModelData` (its `mlf`, `spec` and `calibration`)."""
    spec = model.spec
    if int(spec.get("format", 0)) > FORMAT_VERSION:
        raise ValueError(f"model format {spec['format']} is newer than this release reads ({FORMAT_VERSION})")
    return DemandForecaster(config_from_json(spec["config"]), model.mlf, model.calibration,
                            pd.Timestamp(spec["trained_until"]))


def load_forecaster(model_uri: str) -> LoadedDemandModel:
    """The forecaster of a registered version (`models:/NAME/VERSION`), data or legacy format."""
    python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if hasattr(python_model, "spec"):
        return LoadedDemandModel(forecaster_from_data(python_model),
                                 python_model.spec.get("aggregate_dependence"), "data",
                                 python_model.spec.get("period_dependence"))
    # LEGACY: versions registered by releases before the data format hold a cloudpickled DemandForecaster
    # (training.demand_pyfunc); they keep loading as long as those classes keep their module paths.
    return LoadedDemandModel(python_model.forecaster, None, "legacy-pickle")


def predict_usage(forecaster: DemandForecaster, usage: pd.DataFrame, horizon: int | None = None) -> pd.DataFrame:
    """service, segment, region, date, p10, p50, p90, mean for the periods after `usage` (no events, no feedback)."""
    series = series_frame(usage.assign(date=pd.to_datetime(usage["date"])), forecaster.config.freq)
    pred = forecaster.predict(series, None, int(horizon or forecaster.config.h))
    keys = split_series_id(pred["unique_id"])
    return pd.concat([keys, pred[["ds", "p10", "p50", "p90", "mean"]].rename(columns={"ds": "date"})], axis=1)
