"""What a demand-model run is made of: frequency, horizon, features and LightGBM parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DemandConfig"]

_DEFAULT_HORIZON = {"D": 28, "W": 8}
_SEASON = {"D": 7, "W": 52}


@dataclass(frozen=True)
class DemandConfig:
    """Parameters of one demand model; logged to MLflow as the run's params."""

    freq: str = "D"
    horizon: int | None = None
    backtest_windows: int = 4
    lags: tuple[int, ...] | None = None
    rolling_windows: tuple[int, ...] = (7, 28)
    use_feedback: bool = True
    feedback_window_days: int = 28
    interval: tuple[float, float] = (0.1, 0.9)
    lgbm: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "tweedie",
            "n_estimators": 400,
            "learning_rate": 0.05,
            "num_leaves": 63,
            "min_child_samples": 20,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "verbosity": -1,
            "random_state": 0,
        }
    )

    def __post_init__(self) -> None:
        if self.freq not in _DEFAULT_HORIZON:
            raise ValueError(f"freq must be D or W, not {self.freq!r}")
        if self.horizon is not None and not 1 <= self.horizon <= 366:
            raise ValueError("horizon must be between 1 and 366")

    @property
    def h(self) -> int:
        return self.horizon or _DEFAULT_HORIZON[self.freq]

    @property
    def season(self) -> int:
        return _SEASON[self.freq]

    @property
    def lag_list(self) -> list[int]:
        if self.lags:
            return list(self.lags)
        return [7, 14, 21, 28, 364] if self.freq == "D" else [1, 2, 4, 8, 52]

    def as_params(self) -> dict[str, Any]:
        """Flat params for MLflow (and to rebuild the config of a logged run)."""
        flat = {k: v for k, v in asdict(self).items() if k != "lgbm"}
        flat["horizon"] = self.h
        flat.update({f"lgbm.{k}": v for k, v in self.lgbm.items()})
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in flat.items()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DemandConfig:
        """Inverse of `as_params` on MLflow's string params."""
        import ast

        def parse(v: str) -> Any:
            try:
                return ast.literal_eval(v)
            except (ValueError, SyntaxError):
                return v

        lgbm = {k.removeprefix("lgbm."): parse(v) for k, v in params.items() if k.startswith("lgbm.")}
        kw = {k: parse(v) for k, v in params.items() if not k.startswith("lgbm.") and k in cls.__dataclass_fields__}
        for k in ("lags", "rolling_windows", "interval"):
            if isinstance(kw.get(k), list):
                kw[k] = tuple(kw[k])
        return cls(**kw, lgbm=lgbm or cls().lgbm)
