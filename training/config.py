"""What a demand-model run is made of: frequency, horizon, features and LightGBM parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["DemandConfig"]

_DEFAULT_HORIZON = {"D": 28, "W": 8, "M": 6}
_SEASON = {"D": 7, "W": 52, "M": 12}
_ROLLING = {"D": (7, 28), "W": (4, 13, 52), "M": (7, 28)}
# Share of simple exponential smoothing in the mean forecast: it tracks the level of weekly and monthly
# series better than trees do; on days it cannot see the weekday cycle (measured in docs/benchmarks.md).
_SMOOTHING_WEIGHT = {"D": 0.0, "W": 0.3, "M": 0.3}
LARGE_PANEL = 1000
"""Series count beyond which the backtest uses 2 windows and a single fit (see `DemandConfig.for_series`)."""
SAMPLED_PANEL = 5_000
"""Series count beyond which the global model is fitted on a seeded sample of this many series
(`DemandConfig.for_panel`), and `needcast train` reads, forecasts and stores the series group by group:
memory then grows with the sample and the group, not with the panel (docs/benchmarks.md, "Training at scale")."""


@dataclass(frozen=True)
class DemandConfig:
    """Parameters of one demand model; logged to MLflow as the run's params."""

    freq: str = "D"
    horizon: int | None = None
    # None: chosen from the number of series by `for_series` (4 refitted windows for few series; beyond
    # LARGE_PANEL series 2 windows and one fit on a sample of LARGE_PANEL series: the pooled residuals are
    # plenty, and fits are the cost).
    backtest_windows: int | None = None
    backtest_refit: bool | None = None  # refit per backtest window; None: as `for_series` chooses
    backtest_series: int | None = None  # backtest on a seeded sample of this many series; None: as chosen
    # Fit (and backtest) the global model on a seeded random sample of this many series; None: all, up to
    # SAMPLED_PANEL series (`for_panel` sets it beyond). For panels too large to fit whole in memory and time
    # (docs/benchmarks.md, "Training at scale").
    max_train_series: int | None = None
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
        if self.max_train_series is not None and self.max_train_series < 1:
            raise ValueError("max_train_series must be at least 1")
        if self.backtest_windows is not None and self.backtest_windows < 1:
            raise ValueError("backtest_windows must be at least 1")
        if self.smoothing_weight is not None and not 0 <= self.smoothing_weight <= 1:
            raise ValueError("smoothing_weight must be between 0 and 1")

    def for_panel(self, n_series: int) -> DemandConfig:
        """This config with the sample cap fixed for a panel of `n_series` series: beyond SAMPLED_PANEL series
        and with no cap given, the global model is fitted on a seeded sample of SAMPLED_PANEL (logged as the
        run's `max_train_series`); up to it, or with a cap given, the config as it is."""
        if self.max_train_series is not None or n_series <= SAMPLED_PANEL:
            return self
        return replace(self, max_train_series=SAMPLED_PANEL)

    @property
    def sampled(self) -> bool:
        """Whether the global model is fitted on a sample of the series (and served group by group)."""
        return self.max_train_series is not None

    def for_series(self, n_series: int) -> DemandConfig:
        """This config with the backtest layout fixed for a panel of `n_series` series.

        Up to LARGE_PANEL series: 4 windows, each refitted (few residuals per window). Beyond: 2 windows (one
        calibrates the other's intervals, as coverage stays cross-conformal) on a seeded sample of LARGE_PANEL
        series, predicted by one model fitted at the first cutoff. The served model is still fitted on every
        series; the backtest's model sees fewer series and, in the second window, data h periods older than a
        refit one would: both err on the side of a pessimistic WAPE and wider intervals.
        """
        large = n_series > LARGE_PANEL
        windows = self.backtest_windows if self.backtest_windows is not None else (2 if large else 4)
        refit = self.backtest_refit if self.backtest_refit is not None else not large
        sample = self.backtest_series if self.backtest_series is not None else min(n_series, LARGE_PANEL)
        return replace(self, backtest_windows=windows, backtest_refit=refit, backtest_series=sample)

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
