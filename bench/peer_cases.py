"""The benchmark cases of `bench.forecast_peers`: real and generated demand, split at a forecast origin.

Each case holds the usage rows up to the origin (what needcast's own path reads), the same history as a
series frame (what the peers read) and the held-out actuals. Files come from `../shared/data/`; a case
whose file is absent raises `CaseUnavailable` with a message saying which file is missing.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data import SHARED_DATA
from features.contract import DEFAULT_REGION, SERIES_KEY
from features.series import series_frame, series_id

__all__ = ["CASES", "DATA", "Case", "CaseUnavailable", "World", "available_cases", "case_names", "earlier", "load_case",
           "load_world", "shortened", "world_case"]

DATA = SHARED_DATA
NYC_FILE = "nyc_council_constituent_services_2015_2025.csv.gz"
FMS_FILE = "fixmystreet_uk_lad_month_category_2007_2020.csv.gz"
NYC_MIN_CASES = 3000
NYC_CUTOFF, NYC_END = pd.Timestamp("2023-10-08"), pd.Timestamp("2023-11-05")  # both Sundays
FMS_MIN_NONZERO_MONTHS = 120


class CaseUnavailable(RuntimeError):
    """A case's input file is absent (or its generator is not installed)."""


@dataclass
class Case:
    """One benchmark: history up to `cutoff`, `h` held-out periods, and how to read them."""

    name: str
    source: str
    freq: str  # needcast's freq: D, W or M
    h: int
    season: int  # season length of seasonal naive, AutoETS and MASE
    cutoff: pd.Timestamp  # last period of the history
    history: pd.DataFrame  # unique_id, ds, y + SERIES_KEY
    actual: pd.DataFrame  # unique_id, ds, y of the held-out periods
    usage: pd.DataFrame | None  # usage rows up to the cutoff day; None where needcast reads `history` directly
    feedback: pd.DataFrame | None = None
    country: str = "RU"
    events: pd.DataFrame | None = None  # registered events (store.reads.load_events' columns), future ones too

    @property
    def mlf_freq(self) -> str:
        return {"D": "D", "W": "W-MON", "M": "MS"}[self.freq]

    def history_key(self) -> str:
        """A digest of the history's series, periods and values, the frequency and `h`: what a fit saw."""
        rows = pd.util.hash_pandas_object(self.history[["unique_id", "ds", "y"]], index=False).to_numpy()
        return hashlib.sha256(rows.tobytes() + f"{self.freq}|{self.h}".encode()).hexdigest()[:20]


def _require(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        raise CaseUnavailable(f"{path} is absent")
    return path


def _split(usage: pd.DataFrame, freq: str, cutoff_day: pd.Timestamp, end_day: pd.Timestamp,
           h: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Usage up to the cutoff day, the history series built from it, and the next `h` periods' actuals."""
    before = usage[usage["date"] <= cutoff_day].reset_index(drop=True)
    history = series_frame(before, freq)
    full = series_frame(usage[usage["date"] <= end_day], freq)
    cutoff = history["ds"].max()
    actual = full[full["ds"] > cutoff][["unique_id", "ds", "y"]]
    actual = actual[actual["unique_id"].isin(history["unique_id"].unique())]
    periods = actual.groupby("unique_id")["ds"].nunique()
    if periods.min() != h:
        raise ValueError(f"expected {h} held-out periods, got {periods.min()}..{periods.max()}")
    return before, history, actual.reset_index(drop=True), cutoff


def _nyc_usage() -> pd.DataFrame:
    """One usage row per case (count 1) of the complaint_type x borough pairs with >= 3,000 cases."""
    raw = pd.read_csv(_require(NYC_FILE), usecols=["opendate", "complaint_type", "borough"])
    usage = pd.DataFrame({"date": pd.to_datetime(raw["opendate"]), "service": raw["complaint_type"],
                          "segment": raw["borough"].fillna("Unknown"), "region": DEFAULT_REGION, "count": 1.0})
    sizes = usage.groupby(["service", "segment"])["count"].transform("size")
    return usage[sizes >= NYC_MIN_CASES].reset_index(drop=True)


def nyc_daily() -> Case:
    usage = _nyc_usage()
    before, history, actual, cutoff = _split(usage, "D", NYC_CUTOFF, NYC_END, 28)
    return Case("nyc_daily", f"`{NYC_FILE}`: daily cases per complaint type x borough (>= 3,000 cases), "
                "history 2015-01 .. 2023-10-08, 28 held-out days", "D", 28, 7, cutoff, history, actual, before,
                country="US")


def nyc_weekly() -> Case:
    # Eight weeks that end where the daily case ends: December 2023 is incomplete in the file.
    usage = _nyc_usage()
    cutoff_day = NYC_END - pd.Timedelta(weeks=8)
    before, history, actual, cutoff = _split(usage, "W", cutoff_day, NYC_END, 8)
    return Case("nyc_weekly", f"`{NYC_FILE}`: weekly cases (ISO weeks) per complaint type x borough, "
                f"history to {cutoff_day.date()}, 8 held-out weeks to {NYC_END.date()}", "W", 8, 52, cutoff,
                history, actual, before, country="US")


def fms_monthly() -> Case:
    """SHEF_B district x category series with >= 120 non-zero months; missing months are zeros."""
    raw = pd.read_csv(_require(FMS_FILE), usecols=["month", "lad", "level", "category_code", "reports"])
    raw = raw[raw["level"] == "SHEF_B"]
    raw = raw.assign(ds=pd.to_datetime(raw["month"] + "-01"), service=raw["category_code"].astype(str),
                     segment=raw["lad"], region=DEFAULT_REGION)
    nonzero = raw[raw["reports"] > 0].groupby(["service", "segment"])["ds"].nunique()
    keep = nonzero[nonzero >= FMS_MIN_NONZERO_MONTHS].index
    raw = raw.set_index(["service", "segment"]).loc[keep].reset_index()
    monthly = raw.groupby([*SERIES_KEY, "ds"], as_index=False)["reports"].sum()
    end = monthly["ds"].max()
    parts = []
    for key, part in monthly.groupby(SERIES_KEY):
        months = pd.date_range(part["ds"].min(), end, freq="MS")
        filled = part.set_index("ds")["reports"].reindex(months, fill_value=0).rename_axis("ds").reset_index()
        parts.append(filled.assign(**dict(zip(SERIES_KEY, key, strict=True))))
    frame = pd.concat(parts, ignore_index=True).rename(columns={"reports": "y"})
    frame["y"] = frame["y"].astype(float)
    frame["unique_id"] = series_id(frame)
    frame = frame[["unique_id", "ds", "y", *SERIES_KEY]].sort_values(["unique_id", "ds"], ignore_index=True)
    cutoff = end - pd.DateOffset(months=6)
    history = frame[frame["ds"] <= cutoff].reset_index(drop=True)
    actual = frame[frame["ds"] > cutoff][["unique_id", "ds", "y"]].reset_index(drop=True)
    return Case("fms_monthly", f"`{FMS_FILE}`: SHEF_B district x category series with >= 120 non-zero months, "
                f"history to {cutoff:%Y-%m}, 6 held-out months", "M", 6, 12, cutoff, history, actual, None,
                country="GB")


@dataclass
class World:
    """A generated world read back: usage, feedback (the feature columns) and its campaigns as events."""

    usage: pd.DataFrame
    feedback: pd.DataFrame
    events: pd.DataFrame
    truth: dict


def load_world(world: str, seed: int = 7) -> World:
    """`needcast.sample_data.generate_world(world, seed)` read into frames."""
    try:
        from needcast.sample_data import generate_world
    except ImportError as exc:
        raise CaseUnavailable("needcast.sample_data is not available") from exc
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_world(Path(tmp), world=world, seed=seed)
        usage = pd.read_csv(files.usage, parse_dates=["date"])
        feedback = pd.read_csv(files.feedback, usecols=["created_at", "segment", "service", "rating"],
                               parse_dates=["created_at"])
    usage["count"] = usage["count"].astype(float)
    usage["region"] = usage["region"].fillna(DEFAULT_REGION)
    events = pd.DataFrame([{"name": e["name"], "kind": "campaign", "start": pd.Timestamp(e["start"]),
                            "end": pd.Timestamp(e["end"]), "services": e["services"], "segments": e["segments"],
                            "regions": []} for e in files.truth["events"]],
                          columns=["name", "kind", "start", "end", "services", "segments", "regions"])
    return World(usage, feedback, events, files.truth)


def world_case(name: str, world: World, source: str, cutoff_day: pd.Timestamp | None = None, h: int = 28) -> Case:
    """A daily case of a generated world: history to `cutoff_day` (default: `h` days before the end), `h` days held out.

    Feedback is cut at the origin; the world's campaigns are registered events, the future ones included.
    """
    end = world.usage["date"].max()
    cutoff_day = end - pd.Timedelta(days=h) if cutoff_day is None else cutoff_day
    before, history, actual, cutoff = _split(world.usage, "D", cutoff_day, cutoff_day + pd.Timedelta(days=h), h)
    fb = world.feedback[world.feedback["created_at"] < cutoff + pd.Timedelta(days=1)].reset_index(drop=True)
    return Case(name, source, "D", h, 7, cutoff, history, actual, before, feedback=fb, country="RU",
                events=world.events)


def sample() -> Case:
    """The generated `sample` world (760 days, with feedback); the last 28 days are held out."""
    return world_case("sample", load_world("sample"), "`needcast.sample_data.generate_world(world=\"sample\")` "
                      "(seed 7, 760 days, with feedback): daily requests per service x segment x region, "
                      "28 held-out days")


def unseen_sample() -> Case:
    """The `sample` world with another seed (11): data nobody tuned on."""
    return world_case("sample_seed11", load_world("sample", seed=11), "`generate_world(world=\"sample\", seed=11)` "
                      "(unseen: 760 days, with feedback): daily requests per service x segment x region, "
                      "28 held-out days")


def unseen_alt() -> Case:
    """The `alt` world (other services, segments and regions), seed 7: data nobody tuned on."""
    return world_case("alt_seed7", load_world("alt", seed=7), "`generate_world(world=\"alt\", seed=7)` "
                      "(unseen: another region's services and segments, with feedback): daily requests per "
                      "service x segment x region, 28 held-out days")


CASES: dict[str, Callable[[], Case]] = {"nyc_daily": nyc_daily, "nyc_weekly": nyc_weekly,
                                        "fms_monthly": fms_monthly, "sample": sample,
                                        "sample_seed11": unseen_sample, "alt_seed7": unseen_alt}


def earlier(case: Case, back: int) -> Case:
    """The case with its origin `back` periods earlier: the history to there and the next `h` periods held out.

    Usage and feedback are cut at the new origin as well; registered events (future ones too) stay.
    """
    if back == 0:
        return case
    keys = case.history.drop_duplicates("unique_id")[["unique_id", *SERIES_KEY]]
    full = pd.concat([case.history, case.actual.merge(keys, on="unique_id")], ignore_index=True)
    periods = np.sort(full["ds"].unique())
    last = int(np.searchsorted(periods, case.cutoff.to_datetime64())) - back
    if back < 0 or last < 0 or last + case.h >= len(periods):
        raise ValueError(f"{case.name}: cannot move the origin {back} periods back with {case.h} held out")
    cutoff, first_held, end = (pd.Timestamp(periods[i]) for i in (last, last + 1, last + case.h))
    history = case.history[case.history["ds"] <= cutoff].reset_index(drop=True)
    actual = full[(full["ds"] > cutoff) & (full["ds"] <= end) & full["unique_id"].isin(history["unique_id"])]
    usage = None if case.usage is None else case.usage[case.usage["date"] < first_held].reset_index(drop=True)
    feedback = None if case.feedback is None else (
        case.feedback[case.feedback["created_at"] < first_held].reset_index(drop=True))
    return replace(case, cutoff=cutoff, history=history, actual=actual[["unique_id", "ds", "y"]].reset_index(drop=True),
                   usage=usage, feedback=feedback)


def shortened(case: Case, share: float, periods: int, seed: int = 0) -> Case:
    """The case with a random `share` of its series starting `periods` periods before the origin (new services).

    Their history and usage before that are dropped; held-out actuals stay. Successive origins
    (`earlier`) then see them younger still, or not at all.
    """
    ids = case.history["unique_id"].drop_duplicates()
    young = ids.sample(frac=share, random_state=seed)
    starts = np.sort(case.history["ds"].unique())[-periods]
    keep = ~case.history["unique_id"].isin(young) | (case.history["ds"] >= starts)
    usage = case.usage
    if usage is not None:
        keys = case.history[case.history["unique_id"].isin(young)].drop_duplicates("unique_id")[SERIES_KEY]
        marked = usage.merge(keys.assign(young=True), on=SERIES_KEY, how="left")["young"].eq(True).to_numpy()
        usage = usage[~marked | (usage["date"] >= starts)].reset_index(drop=True)
    return replace(case, name=f"{case.name}, {share:.0%} young", history=case.history[keep].reset_index(drop=True),
                   usage=usage, source=f"{case.source}; {share:.0%} of the series (seed {seed}) start {periods} "
                   "periods before the latest origin")


def case_names(spec: str) -> list[str]:
    """The case names of a comma-separated list; ValueError naming any unknown one."""
    names = [c.strip() for c in spec.split(",") if c.strip()]
    if unknown := [n for n in names if n not in CASES]:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    return names


def available_cases(names: list[str]) -> Iterator[Case]:
    """Each named case loaded in turn; one whose file is absent is skipped with a message on stderr."""
    for name in names:
        try:
            yield load_case(name)
        except CaseUnavailable as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)


def load_case(name: str) -> Case:
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; choose from {', '.join(CASES)}")
    return CASES[name]()
