"""The live champion's fitted forecaster in this process, for answers computed on demand (what-if, why)."""

from __future__ import annotations

from fastapi import Request

from forecast.scenarios import ChampionForecaster

__all__ = ["champion_forecaster"]


def champion_forecaster(request: Request) -> ChampionForecaster:
    """This process's holder of the champion's forecaster, made on first use (loaded per version)."""
    holder = getattr(request.app.state, "champion_forecaster", None)
    if holder is None:
        holder = ChampionForecaster(request.app.state.live.client)
        request.app.state.champion_forecaster = holder
    return holder
