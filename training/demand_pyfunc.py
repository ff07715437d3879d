"""LEGACY loader of demand-model versions registered before the data format (`training.model_format`).

Those versions are a cloudpickle of this class plus a cloudpickled `DemandForecaster` artifact named
`forecaster`; unpickling them needs this class at this module path, and `DemandForecaster` and `DemandConfig`
at theirs. New versions never use it. Remove it once no registry holds such a version.
"""

from __future__ import annotations

from dataclasses import fields

import cloudpickle
import mlflow.pyfunc
import pandas as pd

from training.config import DemandConfig

__all__ = ["DemandPyfunc"]


class DemandPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted DemandForecaster saved as a cloudpickle artifact named `forecaster`."""

    def __init__(self) -> None:
        self.forecaster = None

    def load_context(self, context) -> None:
        with open(context.artifacts["forecaster"], "rb") as fh:
            self.forecaster = cloudpickle.load(fh)
        # A pickled config lacks fields added since: rebuild it so they take their defaults.
        known = {f.name for f in fields(DemandConfig)}
        self.forecaster.config = DemandConfig(**{k: v for k, v in vars(self.forecaster.config).items() if k in known})

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from training.model_format import predict_usage

        return predict_usage(self.forecaster, model_input, (params or {}).get("horizon"))
