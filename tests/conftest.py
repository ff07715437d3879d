"""Shared fixtures: isolated settings per test and small generated worlds built in code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from needcast.settings import Settings, get_settings


def skip_unless_required(reason: str, allow_module_level: bool = False) -> None:
    """Skip a test whose system package is missing, except in CI (NEEDCAST_REQUIRE_SYSTEM_TESTS=1): fail there."""
    if os.environ.get("NEEDCAST_REQUIRE_SYSTEM_TESTS") == "1":
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


API_KEYS = "plan-key:planner,portal-key:portal,ingest-key:ingest,admin-key:admin"


def isolate(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point every store (database, MLflow, artifacts) into `folder` and return fresh settings."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NEEDCAST_HOME", str(folder / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlruns/mlflow.db")
    monkeypatch.setenv("NEEDCAST_MLFLOW_ARTIFACT_ROOT", str(folder / "mlruns"))
    monkeypatch.setenv("NEEDCAST_API_KEYS", API_KEYS)
    monkeypatch.delenv("NEEDCAST_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose stores live in the test's own folder."""
    yield isolate(tmp_path, monkeypatch)
    get_settings.cache_clear()


def make_usage(days: int = 500, end: str = "2026-06-30", seed: int = 0, services: int = 3, segments: int = 2,
               regions: tuple[str, ...] = ("all",)) -> pd.DataFrame:
    """Daily usage with weekly and yearly seasonality and Poisson noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=end, periods=days, freq="D")
    frames = []
    for s in range(services):
        for g in range(segments):
            for r in regions:
                base = rng.uniform(3, 30)
                lam = base * (1 + 0.3 * np.sin(2 * np.pi * dates.dayofyear / 365)) * np.where(
                    dates.dayofweek >= 5, 0.15, 1.0)
                frames.append(pd.DataFrame({"date": dates, "service": f"svc{s}", "segment": f"seg{g}",
                                            "region": r, "count": rng.poisson(lam)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def usage_frame() -> pd.DataFrame:
    return make_usage()
