"""The live champion inside a serving process: loaded at start-up, swapped when the alias moves.

A serving process never computes forecasts: when the champion has none stored (its alias was moved by hand), it
asks for a refresh (`request_refresh`, which queues one for the worker) and keeps serving what it has until the
worker has stored them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from mlflow import MlflowClient
from sqlalchemy import Engine

from forecast.insights import load_insights
from forecast.served import (
    ServedForecasts,
    latest_served_version,
    load_champion_forecaster,
    load_served,
    served_refreshed_at,
)
from training.registry import DEMAND_MODEL, ModelVersionInfo, champion_info

__all__ = ["LiveModels", "registry_reachable"]

log = logging.getLogger(__name__)


@dataclass
class LiveModels:
    """Holds what the API serves; `sync()` swaps it atomically, keeping the old one if loading fails."""

    engine: Engine
    client: MlflowClient | None  # None until the registry could be reached (`connect`)
    forecasts: ServedForecasts | None = None
    # Called with a champion version that has no stored forecasts; truthy when a refresh was queued.
    request_refresh: Callable[[str], object] | None = None
    insights: dict | None = None  # segments and suggestions of the live version
    champion_version: str | None = None  # what the alias points at (served or not yet)
    pending: str | None = None  # why the champion is not served yet
    last_error: str | None = None
    registry: str = "unknown"  # "available" or "unavailable": whether the last look at the registry worked
    registry_uri: str | None = None  # looked at quickly (`registry_reachable`) before MLflow, which retries for minutes
    connect: Callable[[], MlflowClient] | None = None  # makes the client once the registry can be reached
    _refresh_requested: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.forecasts is not None

    def sync(self) -> bool:
        """Load the champion if it changed; True when what is served changed."""
        with self._lock:
            try:
                info = self._champion()
                if info is None:
                    return False
                self.champion_version = info.version
                if self.forecasts is not None and self.forecasts.version == info.version:
                    self.last_error = self.pending = None  # the champion is the version being served
                    return self._pick_up_refresh()
                served = load_served(self.engine, info.version)
                if served is None:
                    self._ask_refresh(info.version)
                    return False
                # Loading the model proves the version is servable before anything is swapped.
                if load_champion_forecaster(self.client) is None:
                    return False
                self.insights = load_insights(self.engine, info.version)
                self.forecasts = served
                self.last_error = self.pending = None
                log.info("serving %s version %s", DEMAND_MODEL, info.version)
                return True
            except Exception as exc:  # a broken new champion must not take the service down
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("could not load the champion; keeping the previous one: %s", self.last_error)
                return False

    def _champion(self) -> ModelVersionInfo | None:
        """The champion's version info; when the registry cannot be read, serve the stored forecasts instead."""
        try:
            if self.registry_uri and not registry_reachable(self.registry_uri):
                raise ConnectionError("the model registry cannot be read")
            if self.client is None:
                if self.connect is None:
                    raise ConnectionError("no model registry client")
                self.client = self.connect()
            info = champion_info(self.client, DEMAND_MODEL)
        except Exception as exc:
            if self.registry != "unavailable":
                log.error("model registry unavailable (%s); serving the stored forecasts", type(exc).__name__)
            self.registry = "unavailable"
            if self.forecasts is None:
                self._serve_stored()
            return None
        self.registry = "available"
        return info

    def _serve_stored(self) -> None:
        """Serve the forecasts stored last in the database, whatever the registry says (it cannot say)."""
        version = latest_served_version(self.engine)
        served = load_served(self.engine, version) if version else None
        if served is not None:
            self.insights = load_insights(self.engine, version)
            self.forecasts = served
            log.warning("serving stored forecasts of %s version %s without the registry", DEMAND_MODEL, version)

    def _ask_refresh(self, version: str) -> None:
        """Queue a refresh for a champion without stored forecasts, once per version and process."""
        self.pending = f"forecasts of version {version} are being computed by the worker"
        if self.request_refresh is None or version in self._refresh_requested:
            return
        if not self.request_refresh(version):
            return  # not queued (a training will store them): ask again at the next check
        self._refresh_requested.add(version)
        log.warning("champion version %s has no stored forecasts: refresh queued; serving %s meanwhile", version,
                    self.forecasts.version if self.forecasts else "nothing")

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


def registry_reachable(uri: str, timeout_s: float = 2.0) -> bool:
    """A quick look before asking MLflow, whose stores retry for minutes: the SQLite file opens read-only,
    or the tracking server answers `/health`. Other stores are assumed reachable (MLflow will tell)."""
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s)) as conn:
                conn.execute("select count(*) from sqlite_master").fetchone()
        except (sqlite3.Error, OSError):
            return False
        return True
    if uri.startswith(("http://", "https://")):
        try:
            return httpx.get(uri.rstrip("/") + "/health", timeout=timeout_s).status_code < 500
        except httpx.HTTPError:
            return False
    return True
