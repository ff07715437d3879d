"""The `needcast` command line (CONTRACT §2): thin edges over features, training and forecast."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from features.contract import Kind
from features.errors import NeedcastInputError
from needcast.settings import Settings, get_settings

app = typer.Typer(help="needcast: forecast demand for public services and emerging needs of citizens.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
events_app = typer.Typer(help="Known events (campaigns, law changes, deadlines) the forecasts account for.",
                         no_args_is_help=True)
app.add_typer(events_app, name="events")
out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _setup_logging() -> None:
    # Library chatter (progress bars, schema hints) hides the CLI's own output; problems still surface.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(mlflow|mlforecast|sklearn)\..*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Found null values")
    logging.basicConfig(level=os.environ.get("NEEDCAST_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("mlflow", "alembic", "urllib3", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _engine(settings: Settings):
    from features.store import get_engine

    return get_engine(settings.db_url)


def _client(settings: Settings):
    from training.registry import configure

    return configure(settings.mlflow_tracking_uri)


@app.callback()
def _main() -> None:
    _setup_logging()


@app.command()
def ingest(
    kind: Annotated[Kind, typer.Argument(help="usage, feedback or services")],
    file: Annotated[Path, typer.Argument(help="CSV, CSV.gz, Parquet or JSON Lines")],
) -> None:
    """Validate a file and store its good rows; bad rows are reported and quarantined."""
    from features.ingest import ingest_frame
    from features.readers import read_table

    settings = get_settings()
    try:
        frame = read_table(file)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=err,
                      transient=True, disable=len(frame) < 50_000) as progress:
            task = progress.add_task(f"ingesting {file.name}", total=len(frame))
            report = ingest_frame(_engine(settings), frame, kind, source=str(file),
                                  progress=lambda done, total: progress.update(task, completed=done, total=total))
    except NeedcastInputError as exc:
        _fail(str(exc))
        return
    is_csv = file.name.lower().endswith((".csv", ".csv.gz"))
    for rejected in report.rejected[:20]:
        line = f" (line {rejected.index + 2})" if is_csv else ""
        for e in rejected.errors:
            err.print(f"{file}: row {rejected.index + 1}{line}, column {e.field}: {e.message}", markup=False,
                      highlight=False, soft_wrap=True)
    if len(report.rejected) > 20:
        err.print(f"... and {len(report.rejected) - 20} more rejected rows: see `needcast quarantine`")
    out.print(f"{kind.value}: {report.received} rows read, {report.accepted} accepted, "
              f"{report.duplicates} duplicates, {len(report.rejected)} rejected (quarantined)")


@app.command()
def quarantine(
    kind: Annotated[Kind | None, typer.Option(help="only this kind")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """List rejected rows with their reasons."""
    from sqlalchemy import select

    from features import tables

    q = tables.quarantine
    stmt = select(q).order_by(q.c.id.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(q.c.kind == kind.value)
    with _engine(get_settings()).connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    table = Table("kind", "source", "row", "column", "reason", title=f"{len(rows)} quarantined rows")
    for r in rows:
        for e in r["errors"]:
            table.add_row(r["kind"], r["source"], str(r["row_number"]), e["field"], e["message"])
    out.print(table)


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write the CSV files to")] = Path("sample"),
    world: Annotated[str, typer.Option(help="which generated world")] = "sample",
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Write a generated region's usage, feedback and service catalogue as CSV files."""
    from needcast.sample_data import WORLDS, generate_world

    if world not in WORLDS:
        _fail(f"--world must be one of {', '.join(WORLDS)}")
    files = generate_world(out_dir, world=world, seed=seed)
    out.print(f"wrote {files.usage}, {files.feedback}, {files.services}")


@app.command()
def train(
    horizon: Annotated[int | None, typer.Option(min=1, max=366, help="periods ahead (default 28 days / 8 weeks)")]
    = None,
    freq: Annotated[str, typer.Option(help="D (daily) or W (weekly)")] = "D",
    job_id: Annotated[str | None, typer.Option(hidden=True, help="report progress to this API job")] = None,
) -> None:
    """Build features, backtest, train and register models; move `champion` only when the new one wins."""
    from needcast.jobs import run_training
    from needcast.training_jobs import finish_job, report_progress

    if freq not in ("D", "W"):
        _fail("--freq must be D or W")
    settings = get_settings()
    engine = _engine(settings) if job_id else None

    def step(message: str) -> None:
        status.update(f"training: {message}")
        if job_id:
            report_progress(engine, job_id, message)

    try:
        with err.status("training") as status:
            result = run_training(settings, horizon=horizon, freq=freq, step=step)
    except Exception as exc:
        if job_id:
            finish_job(engine, job_id, False, None, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, (LookupError, ValueError)):
            _fail(str(exc))
        raise
    run = result.demand
    if job_id:
        finish_job(engine, job_id, True, {
            "model": "needcast-demand", "version": run.version, "champion_moved": run.promoted,
            "champion_before": run.champion_before, "metrics": run.metrics, "naive_metrics": run.naive_metrics,
        }, "done")
    table = Table("metric", "model", "seasonal naive", title=f"backtest of {run.data_from} .. {run.data_until}")
    for metric in ("wape", "mase", "coverage", "scaled_quantile_loss"):
        naive = run.naive_metrics.get(metric)
        table.add_row(metric, f"{run.metrics.get(metric, float('nan')):.4f}",
                      "" if naive is None else f"{naive:.4f}")
    out.print(table)
    verdict = "champion" if run.promoted else f"challenger (champion stays v{run.champion_before})"
    out.print(f"needcast-demand v{run.version}: {verdict}; WAPE vs seasonal naive "
              f"{run.metrics['wape_vs_naive']:.3f}; {run.seconds:.0f}s")
    if result.needs is not None:
        nr = result.needs
        out.print(f"needcast-needs v{nr.version}: {'champion' if nr.promoted else 'challenger'}; "
                  f"{int(nr.metrics['topics'])} topics, {len(nr.snapshot.emerging)} emerging needs")


@app.command()
def refresh() -> None:
    """Recompute served forecasts, needs and suggestions from the latest data with the champions (no retraining)."""
    from forecast.served import load_served
    from needcast.jobs import refresh_served
    from training.registry import champion_info

    settings = get_settings()
    try:
        with err.status("refreshing") as status:
            refresh_served(settings, step=lambda msg: status.update(f"refreshing: {msg}"))
    except LookupError as exc:
        _fail(str(exc))
        return
    served = load_served(_engine(settings), champion_info(_client(settings)).version)
    out.print(f"forecasts of v{served.version} refreshed: {len(served.table)} rows, data until "
              f"{served.meta['data_until']}")


@app.command()
def needs(
    segment: Annotated[str | None, typer.Option(help="only this segment")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    lang: Annotated[str, typer.Option(help="ru or en (column headers)")] = "ru",
) -> None:
    """Print emerging needs per segment, most significant first."""
    from forecast.needs import load_needs

    served = load_needs(_engine(get_settings()))
    if served is None:
        _fail("no needs model yet: ingest feedback and run `needcast train`")
        return
    if segment is not None and segment not in served.segments:
        _fail(f"unknown segment {segment!r}; known: {', '.join(served.segments)}")
    items = served.emerging(segment, limit)
    ru = lang == "ru"
    table = Table("сегмент" if ru else "segment", "потребность" if ru else "need", "сейчас" if ru else "recent",
                  "база" if ru else "baseline", "рост" if ru else "growth", "оценка" if ru else "score",
                  "впервые" if ru else "first seen",
                  title=(f"Растущие потребности на {served.snapshot.as_of}" if ru
                         else f"Emerging needs as of {served.snapshot.as_of}"))
    for i in items:
        table.add_row(i["segment"], i["label"], str(i["recent_count"]), str(i["baseline_count"]),
                      f"×{i['growth']:.1f}", f"{i['score']:.1f}", str(i.get("first_seen", "")))
    out.print(table if items else ("Нет растущих потребностей." if ru else "No emerging needs."))


@app.command()
def forecast(
    service: Annotated[str, typer.Option(help="service id")],
    segment: Annotated[str, typer.Option(help="segment id")],
    region: Annotated[str | None, typer.Option(help="region (default: every region)")] = None,
    horizon: Annotated[int | None, typer.Option(min=1, max=366)] = None,
) -> None:
    """Print the served forecast of one service and segment."""
    from forecast.served import load_served
    from training.registry import champion_info

    settings = get_settings()
    info = champion_info(_client(settings))
    served = load_served(_engine(settings), info.version) if info else None
    if served is None:
        _fail("no served forecasts yet: run `needcast train` first")
        return
    rows = served.query(service, segment, region, horizon)
    if rows.empty:
        _fail(f"no series for service={service!r} segment={segment!r}" + (f" region={region!r}" if region else ""))
    table = Table("date", "region", "p10", "p50", "p90",
                  title=f"{service} · {segment} — model v{served.version}, data until {served.meta['data_until']}")
    for r in rows.itertuples(index=False):
        table.add_row(r.date.strftime("%Y-%m-%d"), r.region, f"{r.p10:.1f}", f"{r.p50:.1f}", f"{r.p90:.1f}")
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the HTTP API and dashboard with uvicorn."""
    import uvicorn

    from needcast.logs import server_log_config

    level = os.environ.get("NEEDCAST_LOG_LEVEL", "INFO").upper()
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=server_log_config(level), log_level=level.lower(), access_log=True)


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="planner, portal, ingest or admin")]) -> None:
    """Print a new API key (shown once; stored hashed)."""
    from api.keys import Role, create_key

    if role not in Role.__members__:
        _fail(f"--role must be one of {', '.join(Role)}")
    out.print(create_key(_engine(get_settings()), Role(role)), markup=False, highlight=False)


@events_app.command("add")
def events_add(
    name: Annotated[str, typer.Option(help="what it is, e.g. a campaign's title")],
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="last day, YYYY-MM-DD")],
    service: Annotated[list[str] | None, typer.Option(help="a service it touches; repeat for more (default: all)")]
    = None,
    segment: Annotated[list[str] | None, typer.Option(help="a segment it touches; repeat for more (default: all)")]
    = None,
    region: Annotated[list[str] | None, typer.Option(help="a region it touches; repeat for more (default: all)")]
    = None,
    kind: Annotated[str, typer.Option(help="campaign, law_change, deadline or other")] = "campaign",
) -> None:
    """Register a past or planned event; training learns its effect from past ones, forecasts apply planned ones."""
    from features.events import InvalidEventError, add_event, parse_event
    from features.history import load_events, load_series_keys, usage_last_day

    try:
        event = parse_event(name, start, end, kind, service, segment, region)
    except InvalidEventError as exc:
        _fail(f"--{exc.field}: {exc.reason}")
        return
    engine = _engine(get_settings())
    keys = load_series_keys(engine)
    for column, values in (("service", event.services), ("segment", event.segments), ("region", event.regions)):
        if unknown := [v for v in values if v not in set(keys[column])]:
            err.print(f"warning: no usage yet for {column} {', '.join(unknown)}", markup=False, highlight=False)
    event_id = add_event(engine, event)
    out.print(f"event {event_id} stored: {event.name} ({event.kind.value}, {event.start} .. {event.end}, "
              f"{event.days} days)", markup=False, highlight=False)
    data_until = usage_last_day(engine)
    if data_until is None or not (load_events(engine)["start"] <= data_until).any():
        err.print("note: the model learns an event's effect from past events in the usage history; register "
                  "earlier ones too (e.g. past campaigns), then run `needcast train`", markup=False)
    out.print("`needcast refresh` applies it with the current champion; `needcast train` learns from it.")


@events_app.command("list")
def events_list() -> None:
    """Print the registered events, earliest first."""
    import pandas as pd

    from features.history import load_events

    events = load_events(_engine(get_settings()))
    today = pd.Timestamp(date.today())
    table = Table(title=f"{len(events)} registered events")
    for header in ("id", "name", "kind", "start", "end", "services / segments / regions", "status"):
        fixed = header in ("id", "kind", "start", "end", "status")
        table.add_column(header, no_wrap=fixed, overflow="ellipsis" if fixed else "fold")
    for e in events.itertuples(index=False):
        status = "past" if e.end < today else "in force" if e.start <= today else "planned"
        scope = " / ".join(", ".join(ids) or "all" for ids in (e.services, e.segments, e.regions))
        # Text, not markup: a planner's name may hold brackets.
        table.add_row(str(e.id), Text(e.name), e.kind, f"{e.start:%Y-%m-%d}", f"{e.end:%Y-%m-%d}", Text(scope), status)
    out.print(table if len(events) else "No registered events: add one with `needcast events add`.")


@events_app.command("remove")
def events_remove(event_id: Annotated[int, typer.Argument(help="the id `needcast events list` shows")]) -> None:
    """Delete a registered event."""
    from features.events import remove_event

    if not remove_event(_engine(get_settings()), event_id):
        _fail(f"no event with id {event_id}")
    out.print(f"event {event_id} removed")


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="start the server at the end")] = True,
) -> None:
    """On an empty folder: generate sample data, ingest, train, and serve the API and dashboard."""
    from api.keys import Role, create_key
    from needcast.jobs import ingest_files
    from needcast.sample_data import generate_world

    settings = get_settings()
    sample_dir = settings.home / "sample"
    files = generate_world(sample_dir, world="sample")
    out.print(f"sample data written to {sample_dir}")
    for kind, report in ingest_files(settings, {Kind.services: files.services, Kind.usage: files.usage,
                                                Kind.feedback: files.feedback}).items():
        out.print(f"ingested {kind}: {report.accepted} new, {report.duplicates} duplicates, "
                  f"{len(report.rejected)} rejected")
    train(horizon=None, freq="D", job_id=None)
    key = create_key(_engine(settings), Role.admin)
    out.print(f"\nneedcast is ready at http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    out.print(f"admin API key: {key}", markup=False, highlight=False)
    out.print(f"dashboard: http://{host}:{port}/#key={key}\n", markup=False, highlight=False)
    if serve_api:
        serve(host=host, port=port, workers=1)


def main() -> None:
    app()


model_app = typer.Typer(help="The embedding model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("install")
def model_install() -> None:
    """Convert the bundled offline embedding model and export it to int8 ONNX, once (no network)."""
    from features.e5_bundle import ensure_bundled_model
    from features.onnx_encoder import ensure_onnx_model

    settings = get_settings()
    path = ensure_bundled_model(settings.models_dir)
    out.print(f"embedding model ready at {path}")
    out.print(f"ONNX export ready at {ensure_onnx_model(settings.models_dir)}")
