"""Calibrated p10/p50/p90 from backtest residuals: split conformal on variance-scaled errors of the mean forecast.

Written here rather than taken from mlforecast's `PredictionIntervals` because that one calibrates each
series on its own few windows (two windows gave 57% coverage for a nominal 80% on real data); pooling the
residuals of all series, scaled by sqrt(mean + 1) as count data's spread grows, gives stable quantiles.

Residuals are pooled per cell of (block of horizon steps, bin of the predicted mean), a Mondrian split:
far steps get wider intervals, and low counts get their own skewed shape. Blocks are merged (nearest steps
first) until each holds MIN_BLOCK_BINS bins of the mean: a small weekly panel (31 series x 8 weeks x 4 windows)
had one bin per 2-week block, so its largest series covered 0.67 and its intermittent ones 0.93-0.94 over 8
origins (docs/benchmarks.md); panels of hundreds of series keep every block. Low counts are why p50 is the
calibrated median and not the model's mean: a series averaging 0.3 a day is 0 on most days, and the median
(what WAPE and the 0.5 quantile loss reward) sits well below the mean. Sums over series should use `mean`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["IntervalCalibration", "apply_intervals", "fit_intervals"]

_BLOCK = {"D": 7, "W": 2, "M": 2}
MIN_CELL = 150  # residuals per cell: 15 beyond a 10% or 90% quantile
MAX_BINS = 16  # fine bins where data allow: the median of low counts moves in steps (0, 1, 2 ...)
MIN_BLOCK_BINS = 4  # bins of the mean a block of horizon steps must hold, else it joins the next block


def _scale(point: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(point, 0, None) + 1.0)


IntervalCalibration = pd.DataFrame
"""Columns: block, level_from, q_lo, q_mid, q_hi — quantiles of scaled residuals per block of horizon steps
and bin of the mean forecast (a bin runs from its `level_from` to the next one's). A block is named by its
first step // _BLOCK[freq] and runs to the next named block (merged blocks skip names)."""


def _level_bins(point: np.ndarray) -> np.ndarray:
    """Lower edges of equal-count bins of the predicted mean, at least MIN_CELL residuals each."""
    n_bins = int(np.clip(len(point) // MIN_CELL, 1, MAX_BINS))
    inner = np.unique(np.quantile(point, np.arange(1, n_bins) / n_bins)) if n_bins > 1 else np.array([])
    return np.r_[-np.inf, inner]


def _merged_blocks(blocks: np.ndarray) -> np.ndarray:
    """Each row's block, blocks too small for MIN_BLOCK_BINS bins joined to the next (the last to the one before)."""
    names, counts = np.unique(blocks, return_counts=True)
    need = MIN_BLOCK_BINS * MIN_CELL
    groups, current, held = [], [], 0
    for name, count in zip(names, counts, strict=True):
        current.append(name)
        held += count
        if held >= need:
            groups.append(current)
            current, held = [], 0
    if current:  # a short tail joins the group before it, or stays alone if it is all there is
        if groups:
            groups[-1] += current
        else:
            groups.append(current)
    first = {name: group[0] for group in groups for name in group}
    return np.vectorize(first.get, otypes=[blocks.dtype])(blocks) if len(blocks) else blocks


def fit_intervals(cv: pd.DataFrame, freq: str, interval: tuple[float, float]) -> IntervalCalibration:
    """Quantiles of (y - mean) / sqrt(mean + 1) per cell, from backtest rows (step, y, mean)."""
    point = np.clip(cv["mean"].to_numpy(dtype=float), 0, None)
    scaled = (cv["y"].to_numpy() - point) / _scale(point)
    blocks = _merged_blocks(cv["step"].to_numpy() // _BLOCK[freq])
    rows = []
    for block in np.unique(blocks):
        in_block = blocks == block
        edges = _level_bins(point[in_block])
        cell = np.searchsorted(edges, point[in_block], side="right") - 1
        first = True
        for i, lower in enumerate(edges):
            if not (cell == i).any():  # ties in the mean can leave a bin empty
                continue
            q_lo, q_mid, q_hi = np.quantile(scaled[in_block][cell == i], [interval[0], 0.5, interval[1]])
            rows.append((int(block), -np.inf if first else float(lower), min(q_lo, q_mid), q_mid, max(q_hi, q_mid)))
            first = False
    return pd.DataFrame(rows, columns=["block", "level_from", "q_lo", "q_mid", "q_hi"])


def apply_intervals(pred: pd.DataFrame, calibration: IntervalCalibration, freq: str) -> pd.DataFrame:
    """Add p10/p50/p90 to rows with `step` and `mean`; 0 <= p10 <= p50 <= p90."""
    out = pred.copy()
    out["mean"] = out["mean"].clip(lower=0.0)
    blocks = np.sort(calibration["block"].unique())
    # Steps past the calibrated ones use the last block's cells.
    block = blocks[np.clip(np.searchsorted(blocks, out["step"].to_numpy() // _BLOCK[freq], side="right") - 1,
                           0, None)]
    keys = pd.DataFrame({"row": np.arange(len(out)), "block": block, "mean": out["mean"].to_numpy()})
    table = calibration.sort_values("level_from").astype({"block": block.dtype})
    cells = pd.merge_asof(keys.sort_values("mean"), table, left_on="mean", right_on="level_from", by="block")
    q = cells.sort_values("row")
    point, scale = out["mean"].to_numpy(), _scale(out["mean"].to_numpy())
    p50 = np.clip(point + q["q_mid"].to_numpy() * scale, 0, None)
    out["p10"] = np.minimum(np.clip(point + q["q_lo"].to_numpy() * scale, 0, None), p50)
    out["p50"] = p50
    out["p90"] = np.maximum(point + q["q_hi"].to_numpy() * scale, p50)
    return out
