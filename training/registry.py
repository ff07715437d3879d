"""MLflow edges: experiments under `mlruns/`, registered models and the `champion` alias."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

__all__ = [
    "CHAMPION",
    "DEMAND_MODEL",
    "NEEDS_MODEL",
    "ModelVersionInfo",
    "champion_info",
    "ensure_experiment",
    "set_champion",
]

DEMAND_MODEL = "needcast-demand"
NEEDS_MODEL = "needcast-needs"
CHAMPION = "champion"


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered model version with the run it came from."""

    name: str
    version: str
    run_id: str
    created_ms: int


def configure(tracking_uri: str) -> MlflowClient:
    """Point MLflow at the tracking store (the SQLite file's folder is created)."""
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str) -> str:
    """The experiment's id; new experiments keep artifacts under `artifact_root` (default `mlruns/`)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # A folder is made absolute; a URI is kept, `mlflow-artifacts:/` too (a tracking server's proxied store).
    is_uri = "://" in artifact_root or artifact_root.startswith("mlflow-artifacts:")
    location = artifact_root if is_uri else Path(artifact_root).resolve()
    uri = location.as_uri() if isinstance(location, Path) else location
    return client.create_experiment(name, artifact_location=uri)


def champion_info(client: MlflowClient, name: str = DEMAND_MODEL) -> ModelVersionInfo | None:
    """The version the `champion` alias points at, or None."""
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return ModelVersionInfo(name, str(mv.version), mv.run_id, int(mv.creation_timestamp))


def set_champion(client: MlflowClient, name: str, version: str) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "role", CHAMPION)
