"""The demand model as an MLflow pyfunc: usage rows in, p10/p50/p90 forecasts out."""

from __future__ import annotations

from dataclasses import replace

import cloudpickle
import mlflow.pyfunc
import pandas as pd

from features.series import series_frame, split_series_id
from training.demand_model import DemandForecaster

__all__ = ["DemandPyfunc"]


class DemandPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted DemandForecaster saved as a cloudpickle artifact named `forecaster`."""

    def __init__(self) -> None:
        self.forecaster: DemandForecaster | None = None

    def load_context(self, context) -> None:
        with open(context.artifacts["forecaster"], "rb") as fh:
            self.forecaster = cloudpickle.load(fh)
        config = self.forecaster.config
        if "use_events" not in vars(config):  # pickled before events existed: it was trained without them
            self.forecaster.config = replace(config, use_events=False)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """`model_input`: usage rows (date, service, segment, region, count); params: optional `horizon`.

        Registered events are not an input here: `forecast.served` passes them from the store.
        """
        assert self.forecaster is not None
        series = series_frame(model_input.assign(date=pd.to_datetime(model_input["date"])),
                              self.forecaster.config.freq)
        h = int((params or {}).get("horizon") or self.forecaster.config.h)
        pred = self.forecaster.predict(series, None, h)
        keys = split_series_id(pred["unique_id"])
        return pd.concat([keys, pred[["ds", "p10", "p50", "p90", "mean"]].rename(columns={"ds": "date"})], axis=1)
