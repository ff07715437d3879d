"""Generated worlds: contract columns, calendar effects, varied Russian feedback and the planted truth."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from features.contract import FEEDBACK, SERVICES, USAGE
from features.readers import read_table
from features.validation import validate_frame
from needcast.sample_data import WORLDS, WorldFiles, generate_world

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> WorldFiles:
    return generate_world(tmp_path_factory.mktemp("sample"), world="sample")


@pytest.fixture(scope="module")
def alt(tmp_path_factory: pytest.TempPathFactory) -> WorldFiles:
    return generate_world(tmp_path_factory.mktemp("alt"), world="alt")


def _usage(files: WorldFiles) -> pd.DataFrame:
    return pd.read_csv(files.usage, parse_dates=["date"])


def _feedback(files: WorldFiles) -> pd.DataFrame:
    """Feedback with its topic label and a parsed timestamp."""
    frame = pd.read_csv(files.feedback, dtype={"id": str}).merge(pd.read_csv(files.topics_file), on="id")
    return frame.assign(created_at=pd.to_datetime(frame["created_at"]))


def _daily_total(usage: pd.DataFrame) -> pd.Series:
    # Days without requests have no row: they count as zero.
    return usage.groupby("date")["count"].sum().asfreq("D", fill_value=0)


def _share_before_and_recent(feedback: pd.DataFrame, segment: str, topic: str, end: str,
                             recent_days: int = 21) -> tuple[float, float]:
    seg = feedback[feedback["segment"] == segment]
    recent = seg["created_at"] > pd.Timestamp(end) - pd.Timedelta(days=recent_days)
    return (seg.loc[~recent, "topic"] == topic).mean(), (seg.loc[recent, "topic"] == topic).mean()


def test_files_have_the_contract_columns_and_validate(sample: WorldFiles) -> None:
    assert list(pd.read_csv(sample.usage, nrows=1).columns) == USAGE.names
    assert set(FEEDBACK.names) <= set(pd.read_csv(sample.feedback, nrows=1).columns)
    assert list(pd.read_csv(sample.services).columns) == SERVICES.names
    for kind, path in (("usage", sample.usage), ("feedback", sample.feedback), ("services", sample.services)):
        assert validate_frame(read_table(path), kind).rejected == [], kind


def test_catalogue_segments_and_span(sample: WorldFiles) -> None:
    services = pd.read_csv(sample.services)
    usage = _usage(sample)
    assert usage["segment"].nunique() >= 5
    assert len(services) >= 10 and services["name"].map(lambda n: bool(CYRILLIC.search(n))).all()
    assert services["description"].str.len().gt(20).all() and services["life_event"].notna().all()
    assert services["handle_minutes"].between(3, 60).all()
    assert set(usage["service"]) <= set(services["service"])
    assert (usage["date"].max() - usage["date"].min()).days + 1 >= 730
    assert {"birth_of_child", "retirement", "starting_business"} <= set(services["life_event"])
    assert usage["count"].ge(0).all() and not usage.duplicated(["date", *USAGE.names[1:4]]).any()


def test_segments_use_their_own_services(sample: WorldFiles) -> None:
    volume = _usage(sample).pivot_table(index="segment", columns="service", values="count", aggfunc="sum",
                                        fill_value=0)
    assert volume.loc["pensioners", "pension_assignment"] > 0 and volume.loc["families", "child_benefit"] > 0
    assert volume.loc["business", "business_registration"] > 0
    assert volume.loc["pensioners"].get("business_registration", 0) == 0
    assert volume.loc["business"].get("child_benefit", 0) == 0


def test_series_volumes_are_varied(sample: WorldFiles) -> None:
    usage = _usage(sample)
    days = usage["date"].nunique()
    per_day = usage.groupby(["service", "segment", "region"])["count"].sum() / days
    assert per_day.max() >= 10 and per_day.min() <= 1


def test_weekly_seasonality(sample: WorldFiles) -> None:
    total = _daily_total(_usage(sample))
    by_weekday = total.groupby(total.index.dayofweek).mean()
    assert by_weekday[6] < 0.3 * by_weekday[:5].mean()
    assert by_weekday[6] < by_weekday[5] < by_weekday[:5].min()


def test_new_year_holidays_and_the_bounce_after(sample: WorldFiles) -> None:
    total = _daily_total(_usage(sample))
    for year in sorted(set(total.index.year))[1:]:
        holidays = total[f"{year}-01-01":f"{year}-01-08"].mean()
        mid = total[f"{year}-01-19":f"{year}-01-30"]
        working = mid[mid.index.dayofweek < 5].mean()
        assert holidays < 0.3 * working, year
        after = total[f"{year}-01-09":f"{year}-01-16"]
        first_working = after[(after.index.dayofweek < 5) & (after > 0.3 * working)].iloc[0]
        assert first_working > 1.2 * working, year


def test_yearly_seasonality_of_foreign_passports(sample: WorldFiles) -> None:
    usage = _usage(sample)
    monthly = usage[usage["service"] == "foreign_passport"].groupby(usage["date"].dt.month)["count"].sum()
    assert monthly[[4, 5]].mean() > 1.3 * monthly[[10, 11]].mean()


def test_feedback_is_varied_mostly_russian_and_well_formed(sample: WorldFiles) -> None:
    feedback = _feedback(sample)
    assert feedback["topic"].nunique() >= 8
    russian = feedback["text"].map(lambda t: bool(CYRILLIC.search(t))).mean()
    assert 0.85 <= russian <= 0.97
    assert feedback["text"].nunique() / len(feedback) > 0.9
    assert feedback["id"].is_unique and feedback["id"].str.fullmatch(r"fb-\d{6}").all()
    assert feedback["rating"].dropna().between(1, 5).all()
    assert set(feedback["channel"]) <= {"portal", "app", "hotline", "mfc", "survey", "social"}
    per_day = len(feedback) / feedback["created_at"].dt.normalize().nunique()
    assert 15 <= per_day <= 40
    mean_rating = feedback.groupby("topic")["rating"].mean()
    assert mean_rating["staff_praise"] > 4 > 2 > mean_rating["portal_errors"]
    # Topics differ in who writes them.
    by_segment = pd.crosstab(feedback["topic"], feedback["segment"], normalize="index")
    assert by_segment.loc["pension_recalc", "pensioners"] > 0.6
    assert by_segment.loc["portal_errors", "pensioners"] < 0.2


def test_some_texts_carry_personal_data(sample: WorldFiles) -> None:
    feedback = _feedback(sample).set_index("id")
    pii = sample.truth["pii_ids"]
    assert 0.015 < len(pii) / len(feedback) < 0.05
    texts = feedback.loc[pii, "text"]
    # Phones, SNILS, INN, passports and cards all have at least ten digits; e-mails have an @.
    assert (texts.str.count(r"\d").ge(10) | texts.str.contains("@")).all()


def test_the_planted_topic_rises_in_its_segment(sample: WorldFiles) -> None:
    feedback = _feedback(sample)
    (planted,) = sample.planted
    assert planted["segment"] == "pensioners"
    end = sample.truth["end"]
    before, recent = _share_before_and_recent(feedback, planted["segment"], planted["topic"], end)
    assert recent > 0.15 and recent > 20 * before
    labelled = feedback.set_index("id").loc[planted["ids"]]
    assert (labelled["topic"] == planted["topic"]).all() and (labelled["segment"] == planted["segment"]).all()
    assert (labelled["created_at"] >= pd.Timestamp(planted["start"])).all()
    assert 14 <= (pd.Timestamp(sample.truth["end"]) - pd.Timestamp(planted["start"])).days <= 35


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    first = generate_world(tmp_path / "a", seed=3, days=90)
    second = generate_world(tmp_path / "b", seed=3, days=90)
    other = generate_world(tmp_path / "c", seed=4, days=90)
    for name in ("usage", "feedback", "services", "truth_file", "topics_file"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name
    assert first.feedback.read_bytes() != other.feedback.read_bytes()
    assert first.usage.read_bytes() != other.usage.read_bytes()


def test_alt_world_plants_three_topics_in_three_segments(sample: WorldFiles, alt: WorldFiles) -> None:
    feedback = _feedback(alt)
    end = pd.Timestamp(alt.truth["end"])
    planted = alt.planted
    assert len(planted) == 3
    assert len({p["segment"] for p in planted}) == 3 and len({p["start"] for p in planted}) == 3
    for p in planted:
        assert 14 <= (end - pd.Timestamp(p["start"])).days <= 35
        before, recent = _share_before_and_recent(feedback, p["segment"], p["topic"], alt.truth["end"])
        assert recent > 0.15 and recent > 20 * before, p["topic"]
    # Steady topics keep their daily rate in every segment (within Poisson noise).
    recent = feedback["created_at"] > end - pd.Timedelta(days=21)
    first = feedback["created_at"].min().normalize()
    for topic in alt.truth["steady"]:
        rows = feedback[feedback["topic"] == topic]
        for segment, group in rows.groupby("segment"):
            expected = (~recent[group.index]).sum() / ((end - first).days + 1 - 21) * 21
            assert recent[group.index].sum() < expected + 4 * expected**0.5, (topic, segment)
    assert feedback.loc[feedback["topic"] == "garbage_collection", "segment"].nunique() == 6
    # Another world: other topics, other services, other segments.
    assert set(alt.truth["topics"]).isdisjoint(sample.truth["topics"])
    assert set(alt.truth["services"]).isdisjoint(sample.truth["services"])
    assert set(alt.truth["segments"]) != set(sample.truth["segments"])


def test_events_world_records_campaigns_that_lift_demand(tmp_path: Path, sample: WorldFiles) -> None:
    events = generate_world(tmp_path / "events", world="events")
    assert len(events.truth["events"]) >= 3
    # Outside the campaigns the world is the sample world itself: same feedback, same other series.
    assert events.feedback.read_bytes() == sample.feedback.read_bytes()
    usage, baseline = _usage(events), _usage(sample)
    lifts = []
    for event in events.truth["events"]:
        def window(frame: pd.DataFrame, event: dict = event) -> int:
            rows = frame[frame["service"].isin(event["services"]) & frame["segment"].isin(event["segments"])
                         & frame["date"].between(event["start"], event["end"])]
            return int(rows["count"].sum())

        lifts.append(window(usage) / window(baseline))
    assert min(lifts) > 1.1 and sum(lifts) / len(lifts) > 1.25, lifts


def test_worlds_and_unknown_world(tmp_path: Path) -> None:
    assert {"sample", "alt", "events"} <= set(WORLDS)
    with pytest.raises(ValueError, match="unknown world"):
        generate_world(tmp_path, world="atlantis")


def test_leads_world_has_complaints_five_weeks_before_each_demand_rise(tmp_path: Path, sample: WorldFiles) -> None:
    leads = generate_world(tmp_path / "leads", world="leads")
    assert "leads" in WORLDS and "leads" not in sample.truth  # the other worlds' truth is as it was
    usage, baseline, feedback = _usage(leads), _usage(sample), _feedback(leads)
    led = set()
    for wave in leads.truth["leads"]:
        key = (wave["service"], wave["segment"])
        led.add(key)
        assert pd.Timestamp(wave["demand_start"]) - pd.Timestamp(wave["complaints_start"]) == pd.Timedelta(days=35)

        def demand(frame: pd.DataFrame, wave: dict = wave) -> int:
            rows = frame[(frame["service"] == wave["service"]) & (frame["segment"] == wave["segment"])
                         & frame["date"].between(wave["demand_start"], wave["demand_end"])]
            return int(rows["count"].sum())

        assert demand(usage) > 1.3 * demand(baseline), wave
        about = feedback[(feedback["service"] == wave["service"]) & (feedback["segment"] == wave["segment"])]
        start, end = pd.Timestamp(wave["complaints_start"]), pd.Timestamp(wave["complaints_end"])
        during = about["created_at"].between(start, end + pd.Timedelta(days=1), inclusive="left").sum()
        before = about["created_at"].between(start - (end - start) - pd.Timedelta(days=1), start,
                                             inclusive="left").sum()
        assert during > 2 * before, wave  # the same number of days just before the wave
    # Every other series is the sample world's own.
    others = ~pd.Series(list(zip(usage["service"], usage["segment"], strict=True))).isin(led).to_numpy()
    same = ~pd.Series(list(zip(baseline["service"], baseline["segment"], strict=True))).isin(led).to_numpy()
    pd.testing.assert_frame_equal(usage[others].reset_index(drop=True), baseline[same].reset_index(drop=True))
