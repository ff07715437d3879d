"""The scale figures as one picture: `docs/scale.png` from `docs/scale-figures.json`.

Usage: `.venv/bin/python -m bench scale_plot`. The JSON holds the rows of the tables in `docs/benchmarks.md`
(`## Scale`, `## Training at scale`, `## Needs at scale`), as `bench scale`, `bench scale_training` and
`bench scale_needs` printed them; each panel puts time and peak memory against size on log axes, with a line of
linear growth from the smallest size, so growth worse than linear shows as a curve above it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "scale-figures.json"
PLOT = ROOT / "docs" / "scale.png"


def _linear(ax, xs: list[float], ys: list[float], color: str) -> None:
    """A dotted line through the first point that grows as x does (the 'linear' reference)."""
    ax.plot([xs[0], xs[-1]], [ys[0], ys[0] * xs[-1] / xs[0]], linestyle=":", color=color, linewidth=1)


def _panel(ax, rows: list[dict], x: str, curves: list[tuple[str, str, str]], xlabel: str, ylabel: str,
           title: str, linear: bool) -> None:
    for key, label, color in curves:
        points = sorted((r[x], r[key]) for r in rows if r.get(key) is not None)
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", color=color, label=label)
        if linear and len(xs) > 1:
            _linear(ax, list(xs), list(ys), color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot(figures: dict, out: Path) -> Path:
    """Draw the three panels of `figures` (training, ingest, needs) into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    train = figures["training"]
    _panel(axes[0][0], train, "series", [("seconds", "`needcast train` s", "tab:blue"),
                                         ("dask_seconds", "the same on Dask, 2 local workers", "tab:cyan")],
           "daily series", "seconds", "Training and serving (PostgreSQL)\ndotted: linear growth from the smallest",
           True)
    _panel(axes[1][0], train, "series", [("rss_mib", "train peak RSS", "tab:blue"),
                                         ("dask_rss_mib", "on Dask: command + workers", "tab:cyan"),
                                         ("server_rss_mib", "API server peak RSS", "tab:green")],
           "daily series", "MiB", "Peak memory (24 GB = 24,576 MiB)", False)
    ingest = figures["ingest"]
    for backend, color in (("postgresql", "tab:purple"), ("sqlite", "tab:orange")):
        rows = [r for r in ingest if r["backend"] == backend]
        _panel(axes[0][1], rows, "rows", [("rows_per_s", f"{backend} rows/s", color)], "usage rows",
               "rows per second", "`needcast ingest usage`", False)
        _panel(axes[1][1], rows, "rows", [("rss_mib", f"{backend} peak RSS", color)], "usage rows", "MiB",
               "Ingest peak memory (flat: within 1.5x)", False)
    needs = figures["needs"]
    _panel(axes[0][2], needs, "texts", [("embedding_s", "cold embedding s", "tab:red"),
                                        ("training_s", "needs training s (warm cache)", "tab:brown")],
           "feedback texts", "seconds", "Needs: embedding and training (CPU)", True)
    _panel(axes[1][2], needs, "texts", [("rss_mb", "peak RSS", "tab:red")], "feedback texts", "MB",
           "Needs peak memory", False)
    fig.suptitle(figures.get("title", "needcast at scale"), fontsize=12)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=Path, default=FIGURES)
    ap.add_argument("--out", type=Path, default=PLOT)
    args = ap.parse_args()
    print(plot(json.loads(args.figures.read_text(encoding="utf-8")), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
