"""The demand model on a Dask cluster: mlforecast's DistributedMLForecast with LightGBM's Dask estimator.

The model frame is partitioned by series (a series lives whole in one partition, where its lags and rolling
means are computed) and LightGBM trains data-parallel across the workers. The features, the interval
calibration, the smoothing blend and the champion rule are those of the single-process path: only the fits
and the backtest's predictions move to the cluster. Series keys travel as integer codes of their categories
(fugue, mlforecast's engine layer, has no categorical type) and are declared categorical to LightGBM; the
fitted model comes back as a local `MLForecast` whose booster maps categories to those codes exactly as a
locally trained one does, so registration and serving cannot tell the paths apart.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from mlforecast import MLForecast

from features.demand_features import STATIC_COLUMNS
from training.config import DemandConfig
from training.demand_model import feature_spec

__all__ = [
    "LOCAL", "DaskEngine", "cross_validate_distributed", "dask_engine", "fit_distributed", "training_engine",
]

LOCAL = "local"
"""`NEEDCAST_DASK_SCHEDULER` value that starts a LocalCluster sized to the machine."""
_NON_FEATURES = ("unique_id", "ds", "y")


@dataclass(frozen=True)
class DaskEngine:
    """A connected Dask client and the shape of its cluster (logged with the run)."""

    client: object  # dask.distributed.Client
    n_workers: int
    threads_per_worker: int

    @property
    def n_partitions(self) -> int:
        """One partition per worker thread: every thread builds features for its own series."""
        return max(2, self.n_workers * self.threads_per_worker)

    def params(self) -> dict[str, str]:
        return {"engine": "dask", "n_workers": str(self.n_workers),
                "threads_per_worker": str(self.threads_per_worker)}


@contextmanager
def dask_engine(scheduler: str, n_workers: int | None = None, threads_per_worker: int | None = None,
                processes: bool = True) -> Iterator[DaskEngine]:
    """Connect to `scheduler` (`tcp://host:8786`, or `local` for a LocalCluster on this machine) for one run.

    A LocalCluster without explicit sizes takes Dask's default for the machine (workers and threads from
    the cores, memory split between them, spilling to disk past its share).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler == LOCAL:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    # Plain object strings and numpy dtypes in and out, as the single-process path has.
    with dask.config.set({"dataframe.convert-string": False}):
        try:
            threads = client.nthreads()
            if not threads:
                client.wait_for_workers(1, timeout=60)
                threads = client.nthreads()
            client.run(_quiet_workers)
            yield DaskEngine(client, len(threads), min(threads.values()))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _quiet_workers() -> None:
    """LightGBM warns of `categorical_feature` given as a parameter: the only way the Dask estimator takes it."""
    warnings.filterwarnings("ignore", message=".*categorical_feature.*")


@contextmanager
def training_engine(scheduler: str | None) -> Iterator[DaskEngine | None]:
    """The Dask engine `NEEDCAST_DASK_SCHEDULER` names for one run, or None (unset: train in this process)."""
    if not scheduler:
        yield None
        return
    with dask_engine(scheduler) as engine:
        yield engine


def _coded(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the series-key categories replaced by their integer codes."""
    return frame.assign(**{c: frame[c].cat.codes.astype("int32") for c in STATIC_COLUMNS})


def _distributed_forecast(frame: pd.DataFrame, config: DemandConfig, dask: DaskEngine):
    from mlforecast.distributed import DistributedMLForecast
    from mlforecast.distributed.models.dask.lgb import DaskLGBMForecast

    features = [c for c in frame.columns if c not in _NON_FEATURES]
    lgbm = {**config.lgbm, "n_jobs": dask.threads_per_worker,
            # mlforecast puts the frame's own columns first, in order, before lags and date features.
            "categorical_feature": [features.index(c) for c in STATIC_COLUMNS]}
    return DistributedMLForecast(models={"mean": DaskLGBMForecast(**lgbm)}, engine=dask.client,
                                 num_partitions=dask.n_partitions, num_threads=dask.threads_per_worker,
                                 **feature_spec(config))


def _to_dask(frame: pd.DataFrame, dask: DaskEngine):
    import dask.dataframe as dd

    return dd.from_pandas(_coded(frame), npartitions=dask.n_partitions, sort=False)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Engine output with the single-process path's dtypes (object ids, nanosecond dates, floats)."""
    out = frame.reset_index(drop=True)
    out["unique_id"] = out["unique_id"].astype(str).astype(object)
    for col in ("ds", "cutoff"):
        if col in out:
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    return out.astype({c: float for c in out.columns if c not in ("unique_id", "ds", "cutoff")})


def cross_validate_distributed(frame: pd.DataFrame, config: DemandConfig, dask: DaskEngine, n_windows: int,
                               refit: bool) -> pd.DataFrame:
    """mlforecast's `cross_validation` on the cluster: unique_id, ds, cutoff, y and one column per model."""
    mlf = _distributed_forecast(frame, config, dask)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="lightgbm")
        cv = mlf.cross_validation(_to_dask(frame, dask), n_windows=n_windows, h=config.h,
                                  static_features=STATIC_COLUMNS, refit=refit, dropna=False).compute()
    cv = _plain(cv)
    return cv.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)


def fit_distributed(frame: pd.DataFrame, config: DemandConfig, dask: DaskEngine) -> MLForecast:
    """Fit on the cluster; the local `MLForecast` it converts to (series state and LightGBM model)."""
    mlf = _distributed_forecast(frame, config, dask)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="lightgbm")
        mlf.fit(_to_dask(frame, dask), static_features=STATIC_COLUMNS, dropna=False)
    local = mlf.to_local()
    # What `MLForecast.fit` sets and `to_local` (mlforecast 1.1.0) does not: no conformal scores (our intervals
    # are calibrated apart), so `MLForecast.save` works on it.
    local._cs_df, local._cs_source_scales_ = None, None
    statics = local.ts.static_features_
    for c in STATIC_COLUMNS:  # the series' stored keys back as the categories they code
        statics[c] = pd.Categorical.from_codes(statics[c].to_numpy(), frame[c].cat.categories)
    for model in local.models_.values():
        # Trained on codes: give the booster the categories behind them, so frames with categorical keys
        # (what the forecaster and serving pass) are mapped to the same codes, as for a local model.
        model.booster_.pandas_categorical = [list(frame[c].cat.categories) for c in STATIC_COLUMNS]
    return local
