"""Settings come from NEEDCAST_* variables only, never from look-alikes such as HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from needcast.settings import Settings


def test_home_is_not_read_from_the_home_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/somewhere/else")
    monkeypatch.delenv("NEEDCAST_HOME", raising=False)
    monkeypatch.delenv("NEEDCAST_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.home == Path("data")
    assert settings.db_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'needcast.db'}"


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("NEEDCAST_HOME=/srv/needcast\nNEEDCAST_API_KEYS=k:planner\n")
    monkeypatch.delenv("NEEDCAST_HOME", raising=False)
    monkeypatch.setenv("NEEDCAST_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings()
    assert settings.home == Path("/srv/needcast") and settings.api_keys == "k:planner"
    assert settings.db_url == "postgresql+psycopg://u@h/db"
