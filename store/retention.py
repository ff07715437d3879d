"""Retention: what the store forgets, and when (served answers of old versions, old source hashes, quarantine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select

from store import tables

__all__ = ["PruneReport", "prune"]

_FORECASTS_META = "forecast_meta:"  # served_meta key of a version's stored forecasts (forecast.served)


@dataclass(frozen=True)
class PruneReport:
    """Rows removed per table, and the served model versions kept."""

    served_forecasts: int
    served_meta: int
    usage_sources: int
    quarantine: int
    jobs: int
    kept_versions: tuple[str, ...]


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (-1, version)


def prune(engine: Engine, keep_versions: int, retention_days: int, protect: tuple[str, ...] = (),
          now: datetime | None = None) -> PruneReport:
    """Keep the served answers of the newest `keep_versions` model versions (and of `protect`, e.g. the live
    champion); forget source hashes, quarantined rows and finished jobs older than `retention_days`.

    A usage file re-ingested after its hashes were forgotten counts again: the retention period is the window
    within which re-ingesting is guaranteed to change nothing.
    """
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    cutoff = now - timedelta(days=retention_days)
    f, m = tables.served_forecasts, tables.served_meta
    with engine.begin() as conn:
        versions = set(conn.execute(select(f.c.model_version).distinct()).scalars())
        versions |= {k.removeprefix(_FORECASTS_META) for k in
                     conn.execute(select(m.c.key).where(m.c.key.startswith(_FORECASTS_META))).scalars()}
        kept = set(sorted(versions, key=_version_order, reverse=True)[:keep_versions]) | set(protect)
        dropped = sorted(versions - kept, key=_version_order)
        forecasts = meta = 0
        for version in dropped:
            forecasts += conn.execute(delete(f).where(f.c.model_version == version)).rowcount
            meta += conn.execute(delete(m).where(m.c.key == f"{_FORECASTS_META}{version}")).rowcount
        sources = conn.execute(delete(tables.usage_sources)
                               .where(tables.usage_sources.c.ingested_at < cutoff)).rowcount
        quarantined = conn.execute(delete(tables.quarantine)
                                   .where(tables.quarantine.c.received_at < cutoff)).rowcount
        j = tables.jobs
        jobs = conn.execute(delete(j).where(j.c.created_at < cutoff, j.c.finished_at.is_not(None))).rowcount
    return PruneReport(forecasts, meta, sources, quarantined, jobs,
                       tuple(sorted(kept & versions, key=_version_order)))
