"""deploy/compose.yaml and the Dockerfile, checked without Docker: services, health checks, volumes, wiring."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from needcast.settings import Settings

ROOT = Path(__file__).parents[2]
NEEDCAST_SERVICES = ("api", "worker")
READ_BY_THE_CLI = {"NEEDCAST_LOG_LEVEL"}  # logging is set up before the settings are read


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${NAME:-default}` / `${NAME:?error}` with the given values (default: the defaults)."""
    env = env or {}
    return re.sub(r"\$\{(\w+)(?::[-?]([^}]*))?\}", lambda m: env.get(m[1], m[2] or ""), value)


def test_the_four_services_each_with_a_health_check(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "api", "worker"}
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name
    for name in ("mlflow", *NEEDCAST_SERVICES):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    for name in NEEDCAST_SERVICES:
        assert services[name]["depends_on"]["mlflow"]["condition"] == "service_healthy", name
    assert "worker" in services["worker"]["command"] and "serve" in services["api"]["command"]
    workers = services["api"]["command"][services["api"]["command"].index("--workers") + 1]
    assert int(_interpolate(workers)) >= 2  # several API workers by default


def test_every_named_volume_is_declared_and_state_lives_in_volumes(compose: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source, _target = mount.split(":")[:2]
            if not source.startswith((".", "/")):
                used.add(source)
            else:
                assert (ROOT / "deploy" / source).is_file(), f"{source} is mounted but missing"
    assert used == declared
    mounts = {name: {m.split(":")[1] for m in s.get("volumes", [])} for name, s in compose["services"].items()}
    assert "/var/lib/postgresql/data" in mounts["postgres"]
    command = compose["services"]["mlflow"]["command"]
    assert command[command.index("--artifacts-destination") + 1] in mounts["mlflow"]


def test_the_needcast_services_share_one_consistent_configuration(compose: dict) -> None:
    services = compose["services"]
    env = services["api"]["environment"]
    assert services["worker"]["environment"] == env  # one anchor: the worker trains what the API serves
    aliases = {alias for f in Settings.model_fields.values() if f.validation_alias
               for alias in getattr(f.validation_alias, "choices", [f.validation_alias])}
    unknown = [name for name in env if name not in aliases | READ_BY_THE_CLI]
    assert not unknown, f"settings needcast does not read: {unknown}"

    secret = {"POSTGRES_PASSWORD": "s3cret"}
    pg = services["postgres"]["environment"]
    database = urlsplit(_interpolate(env["NEEDCAST_DATABASE_URL"], secret))
    assert (database.hostname, database.port, database.username, database.password) == (
        "postgres", 5432, pg["POSTGRES_USER"], "s3cret")
    assert database.path == f"/{pg['POSTGRES_DB']}" and database.scheme == "postgresql+psycopg"

    mlflow = services["mlflow"]
    tracking = urlsplit(env["MLFLOW_TRACKING_URI"])
    assert tracking.hostname == "mlflow" and str(tracking.port) == mlflow["command"][
        mlflow["command"].index("--port") + 1]
    assert tracking.hostname in mlflow["command"][mlflow["command"].index("--allowed-hosts") + 1].split(",")
    assert env["NEEDCAST_MLFLOW_ARTIFACT_ROOT"] == "mlflow-artifacts:/"  # proxied: no shared artifact volume
    backend = urlsplit(_interpolate(mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"], secret))
    assert (backend.hostname, backend.username, backend.password) == ("postgres", pg["POSTGRES_USER"], "s3cret")
    created = re.findall(r"CREATE DATABASE (\w+)", (ROOT / "deploy" / "postgres-init.sql").read_text())
    assert backend.path.lstrip("/") in created


def test_the_default_schedule_is_valid_and_matches_the_settings(compose: dict) -> None:
    from jobs.schedule import parse_schedule

    env = compose["services"]["worker"]["environment"]
    crons = [_interpolate(env[f"NEEDCAST_{name}_CRON"]) for name in ("REFRESH", "RETRAIN", "PRUNE")]
    defaults = Settings.model_fields
    assert crons == [defaults[f"{name}_cron"].default for name in ("refresh", "retrain", "prune")]
    plan = parse_schedule(crons[0], crons[1], _interpolate(env["NEEDCAST_SCHEDULE_TIMEZONE"]), crons[2])
    assert set(plan.triggers) == {"refresh", "train", "prune"}


def test_the_image_holds_every_package() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = {p.rstrip("*") for p in packages["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), flags=re.M))
    assert wanted <= copied, f"missing from the image: {sorted(wanted - copied)}"


def test_the_example_settings_cover_what_compose_asks_for(compose: dict) -> None:
    text = (ROOT / "deploy" / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = {line.split("=")[0] for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required <= example
