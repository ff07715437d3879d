"""The demand model's MLflow loader, logged as model code: reads the model's data, imports nothing of needcast.

This file is copied into every registered model version ("models from code"), so moving or renaming
needcast's modules never breaks a registered version. Loading needs only the pinned requirements logged with
the model (mlforecast, lightgbm, pandas ...). The artifacts it reads (`training.model_format` writes them):
`mlforecast` (the fitted `MLForecast.save` folder), `model` (JSON: format version, config, trained_until,
aggregate dependence) and `calibration` (CSV: the interval calibration table).

`predict` builds features (calendar, events, feedback) with the installed needcast package, imported then.
"""

from __future__ import annotations

import json

import mlflow
import pandas as pd
from mlforecast import MLForecast


class DemandModelData(mlflow.pyfunc.PythonModel):
    """A fitted demand model as plain data: `mlf`, `spec` (the JSON dict) and `calibration` (a frame)."""

    def load_context(self, context) -> None:
        self.mlf = MLForecast.load(context.artifacts["mlforecast"])
        with open(context.artifacts["model"], encoding="utf-8") as fh:
            self.spec = json.load(fh)
        self.calibration = pd.read_csv(context.artifacts["calibration"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Usage rows (date, service, segment, region, count) in; p10/p50/p90/mean per series and period out."""
        from training.model_format import forecaster_from_data, predict_usage  # needcast's features

        return predict_usage(forecaster_from_data(self), model_input, (params or {}).get("horizon"))


mlflow.models.set_model(DemandModelData())
