"""`needcast db …`: schema migrations, retention, backup and restore of the needcast database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from needcast.settings import get_settings

db_app = typer.Typer(help="The needcast database: migrations, retention, backup and restore.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(1)


def _raw_engine():
    """An engine that does not check the schema version (these commands work on any version)."""
    from store.engine import make_engine

    return make_engine(get_settings().db_url)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply schema migrations (once, under a lock: safe to run from several processes)."""
    from store.migrate import upgrade

    before, after = upgrade(_raw_engine(), revision)
    if before == after:
        out.print(f"schema already at {after}")
    else:
        out.print(f"schema upgraded: {before or 'unversioned'} -> {after}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this needcast needs."""
    from store.migrate import current_revision, head_revision

    current, head = current_revision(_raw_engine()), head_revision()
    state = "up to date" if current == head else "run `needcast db upgrade`"
    out.print(f"database: {current or 'unversioned'}  needcast: {head}  ({state})")


@db_app.command("heads")
def db_heads() -> None:
    """Print the newest migration revision (for writing a new one)."""
    from store.migrate import head_revision

    out.print(head_revision())


def _live_champion(tracking_uri: str) -> tuple[str, ...]:
    """The demand champion's version, whose served answers are never pruned; none if the registry is away."""
    from training.registry import champion_info, configure

    try:
        info = champion_info(configure(tracking_uri))
    except Exception:  # an unreachable registry must not stop retention; the newest versions are kept anyway
        return ()
    return (info.version,) if info else ()


@db_app.command("prune")
def db_prune(
    keep_versions: Annotated[int | None, typer.Option(min=1, help="served answers of this many model versions")]
    = None,
    retention_days: Annotated[int | None, typer.Option(min=1, help="days to keep source hashes, quarantine, jobs")]
    = None,
) -> None:
    """Forget served forecasts of old model versions and source hashes, quarantine and jobs past retention."""
    from store.engine import get_engine
    from store.retention import prune

    settings = get_settings()
    report = prune(get_engine(settings.db_url), keep_versions or settings.keep_model_versions,
                   retention_days or settings.retention_days, protect=_live_champion(settings.mlflow_tracking_uri))
    out.print(f"pruned: {report.served_forecasts} served forecasts and {report.served_meta} metadata of old "
              f"versions (kept {', '.join(report.kept_versions) or 'none'}), {report.usage_sources} source hashes, "
              f"{report.quarantine} quarantined rows, {report.jobs} finished jobs")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="where to write the backup")]) -> None:
    """A consistent copy of the database while it runs (SQLite online backup; pg_dump on PostgreSQL)."""
    from store.backup import BackupError, backup

    try:
        out.print(f"backup written to {backup(_raw_engine(), file)}")
    except BackupError as exc:
        _fail(str(exc))


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="a file written by `needcast db backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="replace the current content without asking")] = False,
) -> None:
    """Replace the database's content with a backup (stop `serve` and `worker` first), then upgrade its schema."""
    from store.backup import BackupError, restore
    from store.migrate import upgrade

    if not yes and not typer.confirm("This replaces every row of the database. Continue?"):
        raise typer.Exit(1)
    engine = _raw_engine()
    try:
        restore(engine, file)
    except BackupError as exc:
        _fail(str(exc))
    before, after = upgrade(engine)
    out.print(f"restored from {file} (schema {before or 'unversioned'} -> {after})")
