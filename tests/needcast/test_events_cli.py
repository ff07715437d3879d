"""`needcast events add|list|remove`: stored in the database, listed with status, errors as one line."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import Kind
from features.ingest import ingest_frame
from needcast import cli
from needcast.cli import app
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_events

runner = CliRunner()


def _add(*args: str):
    return runner.invoke(app, ["events", "add", "--name", "Law", "--start", "2026-03-01", "--end", "2026-03-14",
                               *args])


def test_add_then_list(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.out, "width", 160)  # one line per event, whatever the test terminal
    engine = get_engine(settings.db_url)
    ingest_frame(engine, pd.DataFrame({"date": ["2026-02-27"], "service": ["tax"], "segment": ["youth"],
                                       "count": [3]}), Kind.usage)
    added = _add("--service", "tax", "--service", "visa", "--segment", "youth", "--kind", "law_change")
    assert added.exit_code == 0, added.output
    assert "event 1 stored: Law (law_change, 2026-03-01 .. 2026-03-14, 14 days)" in added.stdout
    assert "no usage yet for service visa" in added.stderr  # a warning, not an error
    assert "register earlier ones too" in added.stderr  # nothing before the data's end to learn from
    past = runner.invoke(app, ["events", "add", "--name", "Mailing [SMS]", "--start", "2026-01-10", "--end",
                               "2026-01-20", "--region", "all"])
    assert past.exit_code == 0 and "register earlier ones" not in past.stderr

    stored = load_events(engine)
    assert list(stored["name"]) == ["Mailing [SMS]", "Law"]
    assert stored.iloc[1]["services"] == ["tax", "visa"] and stored.iloc[1]["segments"] == ["youth"]
    listed = runner.invoke(app, ["events", "list"])
    assert listed.exit_code == 0
    assert "2 registered events" in listed.stdout
    law = next(line for line in listed.stdout.splitlines() if "Law" in line)
    assert all(part in law for part in ("law_change", "2026-03-01", "2026-03-14", "past"))
    assert "tax, visa / youth / all" in law
    mailing = next(line for line in listed.stdout.splitlines() if "Mailing [SMS]" in line)
    assert "campaign" in mailing and "all / all / all" in mailing

    assert runner.invoke(app, ["events", "remove", "2"]).exit_code == 0
    missing = runner.invoke(app, ["events", "remove", "2"])
    assert missing.exit_code != 0 and "no event with id 2" in missing.stderr
    assert list(load_events(engine)["name"]) == ["Law"]


def test_invalid_input_is_one_line_on_stderr_and_stores_nothing(settings: Settings) -> None:
    cases = [
        (["--end", "2026-02-01"], "error: --end: 2026-02-01 is before start 2026-03-01"),
        (["--start", "1 March 2026"], "error: --start: '1 March 2026' is not a date in ISO format (YYYY-MM-DD)"),
        (["--kind", "party"], "error: --kind: 'party' is not one of campaign, law_change, deadline, other"),
    ]
    for args, message in cases:
        # Typer takes the last of a repeated option, so these override the valid defaults of `_add`.
        result = _add(*args)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == message
    assert load_events(get_engine(settings.db_url)).empty
    assert "No registered events" in runner.invoke(app, ["events", "list"]).stdout
