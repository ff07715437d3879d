"""`needcast ingest segments|regions|events FILE`: good rows stored, bad rows reported as FILE: row N (line L)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from forecast.names import load_names
from needcast.cli import app
from needcast.sample_catalogues import write_catalogues
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_events

runner = CliRunner()


def test_catalogues_give_names_in_both_languages_and_bad_rows_are_quarantined(settings: Settings,
                                                                             tmp_path: Path) -> None:
    segments, regions = write_catalogues(tmp_path, ["pensioners", "youth"], ["center", "north"])
    with segments.open("a", encoding="utf-8") as f:
        f.write(",Без кода,No code\nveterans,,\n")
    result = runner.invoke(app, ["ingest", "segments", str(segments)])
    assert result.exit_code == 0, result.output
    assert "segments: 4 rows read, 2 accepted, 0 duplicates, 2 rejected" in result.stdout
    assert f"{segments}: row 3 (line 4), column segment: must not be empty" in result.stderr
    assert f"{segments}: row 4 (line 5), column name_ru: name_ru or name_en must be given" in result.stderr
    again = runner.invoke(app, ["ingest", "segments", str(segments)])
    assert "0 accepted, 2 duplicates" in again.stdout
    assert runner.invoke(app, ["ingest", "regions", str(regions)]).exit_code == 0

    names = load_names(get_engine(settings.db_url))
    assert names.name("segment", "pensioners", "ru") == "Пенсионеры"
    assert names.name("segment", "pensioners", "en") == "Pensioners"
    assert names.name("segment", "unknown_code", "en") == "unknown_code"  # unknown codes shown as they are
    assert names.name("region", "north", "en") == "Northern district" and names.parents["north"] == "oblast"
    assert names.code_of("segment", "молодёжь") == "youth" and names.code_of("segment", "youth") == "youth"
    quarantined = runner.invoke(app, ["quarantine", "--limit", "10"])
    assert "must not be empty" in quarantined.stdout


def test_an_events_file_with_lists_lands_its_good_rows_once(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "name,start,end,kind,services,segments,regions\n"
        "Рассылка о пособии,2026-03-01,2026-03-14,campaign,child_benefit; birth_registration,families,\n"
        "Новый закон,2026-05-01,2026-05-31,law_change,,,center;north\n"
        "Плохая,2026-05-10,2026-05-01,campaign,,,\n"
        "Непонятная,2026-05-10,2026-05-11,rumour,,,\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "events", str(path)])
    assert result.exit_code == 0, result.output
    assert "events: 4 rows read, 2 accepted, 0 duplicates, 2 rejected" in result.stdout
    assert f"{path}: row 3 (line 4), column end: 2026-05-01 is before start 2026-05-10" in result.stderr
    assert f"{path}: row 4 (line 5), column kind:" in result.stderr
    events = load_events(get_engine(settings.db_url))
    assert events["services"].tolist() == [["child_benefit", "birth_registration"], []]
    assert events["regions"].tolist() == [[], ["center", "north"]]
    assert events["kind"].tolist() == ["campaign", "law_change"]
    again = runner.invoke(app, ["ingest", "events", str(path)])
    assert "0 accepted, 2 duplicates" in again.stdout and len(load_events(get_engine(settings.db_url))) == 2
