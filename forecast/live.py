"""The live champion inside a serving process: loaded at start-up, swapped when the alias moves."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from mlflow import MlflowClient
from sqlalchemy import Engine

from forecast.insights import load_insights
from forecast.served import (
    ServedForecasts,
    load_champion_forecaster,
    load_served,
    refresh_forecasts,
    served_refreshed_at,
)
from training.registry import DEMAND_MODEL, champion_info

__all__ = ["LiveModels"]

log = logging.getLogger(__name__)


@dataclass
class LiveModels:
    """Holds what the API serves; `sync()` swaps it atomically, keeping the old one if loading fails."""

    engine: Engine
    client: MlflowClient
    forecasts: ServedForecasts | None = None
    insights: dict | None = None  # segments and suggestions of the live version
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.forecasts is not None

    def sync(self) -> bool:
        """Load the champion if it changed; True when what is served changed."""
        with self._lock:
            try:
                info = champion_info(self.client, DEMAND_MODEL)
                if info is None:
                    return False
                if self.forecasts is not None and self.forecasts.version == info.version:
                    self.last_error = None  # the champion is the version being served
                    return self._pick_up_refresh()
                # Loading the model proves the version is servable before anything is swapped.
                if load_champion_forecaster(self.client) is None:
                    return False
                served = load_served(self.engine, info.version) or refresh_forecasts(self.engine, self.client)
                self.insights = load_insights(self.engine, info.version)
                self.forecasts = served
                self.last_error = None
                log.info("serving %s version %s", DEMAND_MODEL, info.version)
                return True
            except Exception as exc:  # a broken new champion must not take the service down
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("could not load the champion; keeping the previous one: %s", self.last_error)
                return False

    def _pick_up_refresh(self) -> bool:
        """Reload the live version's forecasts when another process refreshed them."""
        stamp = served_refreshed_at(self.engine, self.forecasts.version)
        if stamp is None or stamp == self.forecasts.meta.get("refreshed_at"):
            return False
        fresh = load_served(self.engine, self.forecasts.version)
        if fresh is not None:
            self.insights = load_insights(self.engine, fresh.version)
            self.forecasts = fresh
        return fresh is not None

    def reload_served(self) -> None:
        """Re-read the served forecasts of the live version (after a refresh)."""
        with self._lock:
            if self.forecasts is not None:
                fresh = load_served(self.engine, self.forecasts.version)
                if fresh is not None:
                    self.insights = load_insights(self.engine, fresh.version)
                    self.forecasts = fresh
