"""What a demand-model run is made of: frequency, horizon, features and LightGBM parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DemandConfig"]

_DEFAULT_HORIZON = {"D": 28, "W": 8, "M": 6}
_SEASON = {"D": 7, "W": 52, "M": 12}
_ROLLING = {"D": (7, 28), "W": (4, 13, 52), "M": (7, 28)}
# Share of simple exponential smoothing in the mean forecast: it tracks the level of weekly and monthly
# series better than trees do; on days it cannot see the weekday cycle (measured in docs/benchmarks.md).
_SMOOTHING_WEIGHT = {"D": 0.0, "W": 0.3, "M": 0.3}


@dataclass(frozen=True)
class DemandConfig:
    """Parameters of one demand model; logged to MLflow as the run's params."""

    freq: str = "D"
    horizon: int | None = None
    backtest_windows: int = 4
    lags: tuple[int, ...] | None = None
    rolling_windows: tuple[int, ...] | None = None  # None: the frequency's default
    # Off by default: the feedback features help only where feedback leads demand (bench/ablation.py, measured
    # in docs/benchmarks.md); NEEDCAST_FEEDBACK_FEATURES turns them on for such data.
    use_feedback: bool = False
    feedback_window_days: int = 28
    # Needs-topic ids whose shares of a series' feedback are features (with use_feedback; chosen at training
    # as the most frequent, `features.feedback_features.frequent_topics`); empty: no topic shares.
    feedback_topics: tuple[int, ...] = ()
    use_events: bool = True  # registered events as features (off in training when none touch the history)
    interval: tuple[float, float] = (0.1, 0.9)
    country: str = "RU"  # calendar of public holidays (the `holidays` package's country code)
    smoothing_weight: float | None = None  # None: the frequency's default
    yearly_level: bool = True  # daily: last year's 28-day level around the same date as features
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
            # One thread: on a shared machine LightGBM's OpenMP threads spin and ran 10x slower with two.
            "n_jobs": 1,
        }
    )

    def __post_init__(self) -> None:
        if self.freq not in _DEFAULT_HORIZON:
            raise ValueError(f"freq must be D, W or M, not {self.freq!r}")
        if self.horizon is not None and not 1 <= self.horizon <= 366:
            raise ValueError("horizon must be between 1 and 366")
        if self.smoothing_weight is not None and not 0 <= self.smoothing_weight <= 1:
            raise ValueError("smoothing_weight must be between 0 and 1")

    @property
    def h(self) -> int:
        return self.horizon or _DEFAULT_HORIZON[self.freq]

    @property
    def blend_weight(self) -> float:
        return _SMOOTHING_WEIGHT[self.freq] if self.smoothing_weight is None else self.smoothing_weight

    @property
    def season(self) -> int:
        return _SEASON[self.freq]

    @property
    def lag_list(self) -> list[int]:
        if self.lags:
            return list(self.lags)
        return {"D": [7, 14, 21, 28, 364], "W": [1, 2, 4, 8, 52], "M": [1, 2, 3, 6, 12]}[self.freq]

    @property
    def rolling_list(self) -> list[int]:
        return list(self.rolling_windows or _ROLLING[self.freq])

    def as_params(self) -> dict[str, Any]:
        """Flat params for MLflow (and to rebuild the config of a logged run)."""
        flat = {k: v for k, v in asdict(self).items() if k != "lgbm"}
        flat["horizon"] = self.h
        flat["smoothing_weight"] = self.blend_weight
        flat["rolling_windows"] = self.rolling_list
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
        for k in ("lags", "rolling_windows", "interval", "feedback_topics"):
            if isinstance(kw.get(k), list):
                kw[k] = tuple(kw[k])
        if "use_feedback" in kw:  # a logged run: one from before events existed had none
            kw.setdefault("use_events", False)
        return cls(**kw, lgbm=lgbm or cls().lgbm)
