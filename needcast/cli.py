"""The `needcast` command line (CONTRACT §2): thin edges over features, training and forecast."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from datetime import date
from enum import StrEnum
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
    # MLflow's CloudPickle advice is about how needcast logs its own model wrapper: noise on a user's console.
    logging.getLogger("mlflow.pyfunc").addFilter(lambda record: "CloudPickle" not in record.getMessage())


def _engine(settings: Settings):
    from store.engine import get_engine

    return get_engine(settings.db_url)


def _client(settings: Settings):
    from training.registry import configure

    return configure(settings.mlflow_tracking_uri)


@app.callback()
def _main() -> None:
    _setup_logging()


class IngestKind(StrEnum):
    """What `needcast ingest` reads: the contract's inputs, the name catalogues and events."""

    usage = "usage"
    feedback = "feedback"
    services = "services"
    segments = "segments"
    regions = "regions"
    events = "events"


def _ingest_segments(engine, frame, source: str):
    from features.catalogues import ingest_catalogue

    return ingest_catalogue(engine, frame, "segments", source)


def _ingest_regions(engine, frame, source: str):
    from features.catalogues import ingest_catalogue

    return ingest_catalogue(engine, frame, "regions", source)


def _ingest_events(engine, frame, source: str):
    from features.events import ingest_events

    return ingest_events(engine, frame, source)


_PLANNER_FILES = {"segments": _ingest_segments, "regions": _ingest_regions, "events": _ingest_events}


def _file_limits(settings: Settings, max_new_series: int | None):
    """The input limits of a file: the HTTP caps on new series do not apply to an operator's bulk load."""
    from dataclasses import replace

    cap = 10**12 if max_new_series is None else max_new_series
    return replace(settings.input_limits, new_series_per_batch=cap, new_series_per_day=10**12)


@app.command()
def ingest(
    kind: Annotated[IngestKind, typer.Argument(help="usage, feedback, services, segments, regions or events")],
    file: Annotated[Path, typer.Argument(help="CSV, CSV.gz, Parquet or JSON Lines")],
    max_new_series: Annotated[int | None, typer.Option(min=0, help="reject rows beyond this many new series "
                                                       "(default: no cap for an operator's file)")] = None,
) -> None:
    """Validate a file and store its good rows; bad rows are reported and quarantined."""
    from features.ingest import ingest_file
    from features.readers import read_table
    from store.engine import StoreBusyError

    settings = get_settings()
    try:
        if kind.value in _PLANNER_FILES:  # catalogues of names, and events: small, read whole
            report = _PLANNER_FILES[kind.value](_engine(settings), read_table(file), source=str(file))
        else:
            # Streams in chunks; the bar (rows read of the estimated total, rows/s) shows on a terminal only.
            with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                          TextColumn("{task.fields[rate]}"),
                          TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
                task = progress.add_task(f"ingesting {file.name}", total=None, rate="")

                def show(done: int, total: int) -> None:
                    elapsed = progress.tasks[0].elapsed or 0.0
                    speed = f", {done / elapsed:,.0f} rows/s" if elapsed > 0 else ""
                    progress.update(task, completed=done, total=total, rate=f"{done:,} of ~{total:,} rows{speed}")

                report = ingest_file(_engine(settings), file, Kind(kind.value), source=str(file), progress=show,
                                     limits=_file_limits(settings, max_new_series))
    except (NeedcastInputError, StoreBusyError) as exc:
        _fail(str(exc))
        return
    is_csv = file.name.lower().endswith((".csv", ".csv.gz"))
    for rejected in report.rejected[:20]:
        line = f" (line {rejected.index + 2})" if is_csv else ""
        for e in rejected.errors:
            err.print(f"{file}: row {rejected.index + 1}{line}, column {e.field}: {e.message}", markup=False,
                      highlight=False, soft_wrap=True)
    if report.rejected_count > 20:
        err.print(f"... and {report.rejected_count - 20} more rejected rows: see `needcast quarantine`")
    out.print(f"{kind.value}: {report.received} rows read, {report.accepted} accepted, "
              f"{report.duplicates} duplicates, {report.rejected_count} rejected (quarantined)")
    if getattr(report, "batch_id", None) and report.accepted:
        out.print(f"ingest id {report.batch_id} (undo: `needcast delete {kind.value} --source {file}`)",
                  markup=False, highlight=False)
    if report.received and report.rejected_count == report.received:
        _fail(f"{file}: all {report.received} rows rejected, nothing stored (reasons above; `needcast quarantine`)")


class DeleteKind(StrEnum):
    usage = "usage"
    feedback = "feedback"


def _day_option(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--{name}: {value!r} is not a date (YYYY-MM-DD)")
        raise


@app.command()
def delete(
    kind: Annotated[DeleteKind, typer.Argument(help="usage or feedback")],
    source: Annotated[Path | None, typer.Option(help="the rows a file brought (the path it was ingested from)")]
    = None,
    before: Annotated[str | None, typer.Option(help="rows dated before this day, YYYY-MM-DD (exclusive)")] = None,
    after: Annotated[str | None, typer.Option(help="rows dated after this day, YYYY-MM-DD (exclusive)")] = None,
    row_id: Annotated[str | None, typer.Option("--id", help="feedback: its id; usage: an ingest id")] = None,
) -> None:
    """Remove stored usage or feedback (all criteria given must hold), audited; then queue a refresh."""
    import getpass

    from store.deletes import DeleteCriteria, NoCriteriaError, delete_rows
    from store.engine import StoreBusyError

    criteria = DeleteCriteria(source=None if source is None else str(source), before=_day_option("before", before),
                              after=_day_option("after", after), id=row_id)
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        actor = "cli"
    engine = _engine(get_settings())
    try:
        report = delete_rows(engine, kind.value, criteria, actor)
    except (NoCriteriaError, StoreBusyError) as exc:
        _fail(str(exc))
        return
    what = f"{report.amount} requests subtracted" if kind == DeleteKind.usage else "texts removed"
    out.print(f"{kind.value}: {report.rows} rows deleted ({what}); audit entry {report.audit_id}")
    if report.rows:
        out.print(_refresh_after_delete(engine), markup=False, highlight=False)


def _refresh_after_delete(engine) -> str:
    """Queue a refresh so served answers stop showing removed rows; say how it will happen."""
    try:
        from jobs.queue import enqueue

        job_id = enqueue(engine, "refresh", {"reason": "delete"})
    except Exception as exc:  # the queue is optional here: the hint still tells what to run
        logging.getLogger(__name__).warning("could not queue a refresh: %s", type(exc).__name__)
        return "served answers still include them: run `needcast refresh`"
    return f"refresh queued as job {job_id} (`needcast worker` runs it; or run `needcast refresh` now)"


@app.command()
def quarantine(
    kind: Annotated[Kind | None, typer.Option(help="only this kind")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """List rejected rows with their reasons."""
    from sqlalchemy import select

    from store import tables

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
    horizon: Annotated[int | None, typer.Option(min=1, max=366,
                                                help="periods ahead (default 28 days / 8 weeks / 6 months)")]
    = None,
    freq: Annotated[str, typer.Option(help="D (daily), W (ISO weeks) or M (calendar months)")] = "D",
) -> None:
    """Build features, backtest, train and register models; move `champion` only when the new one wins."""
    from jobs.tasks import run_training

    if freq not in ("D", "W", "M"):
        _fail("--freq must be D, W or M")
    settings = get_settings()
    try:
        with err.status("training") as status:
            result = run_training(settings, horizon=horizon, freq=freq,
                                  step=lambda message: status.update(f"training: {message}"))
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
        return
    run = result.demand
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
    from jobs.tasks import refresh_served

    settings = get_settings()
    try:
        with err.status("refreshing") as status:
            served = refresh_served(settings, step=lambda msg: status.update(f"refreshing: {msg}"))
    except LookupError as exc:
        _fail(str(exc))
        return
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
    period: Annotated[str | None, typer.Option(
        help="sum to day, week, month or quarter (as the API's `period`); default: the model's own periods")] = None,
) -> None:
    """Print the served forecast of one service and segment."""
    from forecast.periods import PeriodError, to_periods
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
    if period is not None:
        try:
            rows = to_periods(rows, period, served.meta["freq"], served.period_dependence)
        except PeriodError as exc:
            _fail(f"--period: {exc}")
    table = Table("date", "region", "p10", "p50", "p90",
                  title=f"{service} · {segment} — model v{served.version}, data until {served.meta['data_until']}")
    if period is not None:
        table.add_column("partial")
    for r in rows.itertuples(index=False):
        cells = [r.date.strftime("%Y-%m-%d"), r.region, f"{r.p10:.1f}", f"{r.p50:.1f}", f"{r.p90:.1f}"]
        table.add_row(*cells, *(["yes" if r.partial else ""] if period is not None else []))
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

    # The schema is checked (or made, on an empty database) once here, so workers never start on an old one.
    _engine(get_settings())
    level = os.environ.get("NEEDCAST_LOG_LEVEL", "INFO").upper()
    # With several workers uvicorn kills a child that does not answer its ping within the health-check timeout
    # (default 5 s); a worker still importing or loading the champion on a busy host would be killed in a loop.
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=server_log_config(level), log_level=level.lower(), access_log=True,
                timeout_worker_healthcheck=120)


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
    from store.reads import load_events, load_series_keys, usage_last_day

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

    from store.reads import load_events

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
    from features.readers import read_table
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
    for kind in ("segments", "regions"):  # names of the codes, for the dashboard
        if (sample_dir / f"{kind}.csv").exists():
            _PLANNER_FILES[kind](_engine(settings), read_table(sample_dir / f"{kind}.csv"),
                                 source=str(sample_dir / f"{kind}.csv"))
    # The demand champion is what the dashboard needs first; the needs model (every feedback text embedded once,
    # the longer part of a first run) trains in the background, run by the worker started beside the server. With
    # feedback features on, the demand model reads the needs' topics, so the needs come first as in `train`.
    needs_later = serve_api and not settings.feedback_features
    if needs_later:
        _demo_train_demand(settings)
    else:
        train(horizon=None, freq="D")
    key = create_key(_engine(settings), Role.admin)
    out.print(f"\nneedcast is ready at http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    out.print(f"admin API key: {key}", markup=False, highlight=False)
    out.print(f"dashboard: http://{host}:{port}/#key={key}\n", markup=False, highlight=False)
    if serve_api:
        import subprocess

        # needcast's own lines on the newcomer's console, not a JSON line per request and per job step.
        os.environ.setdefault("NEEDCAST_LOG_LEVEL", "WARNING")
        needs_job = _demo_queue_needs(settings) if needs_later else None
        # The worker runs the jobs the dashboard and the API queue (retrain, refresh), as in production.
        worker_process = subprocess.Popen([sys.executable, "-m", "needcast", "worker"])
        if needs_job is not None:
            _demo_report_needs(settings, needs_job)
        try:
            serve(host=host, port=port, workers=1)
        finally:
            worker_process.terminate()
            worker_process.wait(timeout=30)


def _demo_train_demand(settings: Settings) -> None:
    """`demo`'s first training: the demand model alone, its served forecasts and suggestions; one summary line."""
    from jobs.tasks import run_training

    with err.status("training the demand model") as status:
        result = run_training(settings, freq="D", with_needs=False,
                              step=lambda message: status.update(f"training the demand model: {message}"))
    run = result.demand
    out.print(f"needcast-demand v{run.version}: {'champion' if run.promoted else 'challenger'}; backtest WAPE "
              f"{run.metrics['wape']:.3f} (seasonal naive {run.naive_metrics['wape']:.3f}); {run.seconds:.0f}s")


def _demo_queue_needs(settings: Settings) -> str | None:
    """Queue the needs model's training for the worker (a `train` job of the needs alone); its id, or None when
    there is no feedback or a training is queued already (that one trains the needs too)."""
    from jobs.queue import JobAlreadyQueued, enqueue
    from store.reads import load_feedback

    engine = _engine(settings)
    if len(load_feedback(engine, ["id"])) < 2:
        return None
    try:
        job_id = enqueue(engine, "train", {"models": ["needs"]})
    except JobAlreadyQueued:
        return None
    out.print("emerging needs: the needs model trains in the background; the dashboard shows them when ready")
    return job_id


def _demo_report_needs(settings: Settings, job_id: str, poll_s: float = 3.0) -> None:
    """One console line when the background needs training ends (a daemon thread beside the server)."""
    import threading
    import time

    from jobs.queue import get_job

    def follow() -> None:
        while True:
            time.sleep(poll_s)
            try:
                job = get_job(_engine(settings), job_id)
            except Exception:  # a console courtesy: the server goes on either way
                return
            if job is None or job["state"] in ("queued", "running"):
                continue
            result = job.get("result") or {}
            if job["state"] == "succeeded":
                out.print(f"emerging needs ready: needcast-needs v{result.get('version')}, "
                          f"{result.get('topics', 0)} topics, {result.get('emerging', 0)} emerging",
                          markup=False, highlight=False)
            else:
                err.print(f"the needs model's training failed: {job['progress']}", markup=False, highlight=False)
            return

    threading.Thread(target=follow, name="needs-report", daemon=True).start()


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="run what is queued now, then exit (no schedule)")] = False,
    schedule: Annotated[bool, typer.Option("--schedule/--no-schedule",
                                           help="queue a refresh and a retraining on the cron schedule")] = True,
    alive_file: Annotated[Path | None, typer.Option(help="touched every few seconds while the worker lives "
                                                         "(for a container health check)")] = None,
) -> None:
    """Run queued jobs (train, refresh, embed, prune) one at a time, and queue them on the schedule."""
    import logging.config

    from jobs.schedule import ScheduleError, parse_schedule, start_schedule
    from jobs.tasks import TASKS
    from jobs.worker import Worker, stop_on_signals, yield_cpu
    from needcast.logs import server_log_config

    logging.config.dictConfig(server_log_config(os.environ.get("NEEDCAST_LOG_LEVEL", "INFO").upper()))
    settings = get_settings()
    yield_cpu(settings.worker_nice, settings.worker_threads)  # the API on this host keeps a core and goes first
    scheduled = schedule and not once
    try:
        plan = parse_schedule(settings.refresh_cron if scheduled else "", settings.retrain_cron if scheduled else "",
                              settings.schedule_timezone, settings.prune_cron if scheduled else "")
    except ScheduleError as exc:
        _fail(str(exc))
        return
    runner = Worker(_engine(settings), settings, TASKS, settings.job_lease_s, settings.worker_poll_s,
                    alive_path=alive_file)
    for job_id in runner.recover():
        err.print(f"job {job_id} failed: the worker running it had ended", markup=False, highlight=False)
    scheduler = start_schedule(plan, runner.queue_job)
    next_runs = ", ".join(f"{kind} {at}" for kind, at in plan.next_runs().items()) or "none"
    err.print(f"worker {runner.host}:{os.getpid()} waiting for jobs; next scheduled: {next_runs}",
              markup=False, highlight=False)
    try:
        with stop_on_signals(runner):
            ran = runner.run(until_idle=once)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
    err.print(f"worker stopped after {ran} jobs", markup=False, highlight=False)


def main() -> None:
    """The console entry point: a database at another schema version is one line, not a traceback."""
    from store.migrate import SchemaError

    try:
        app()
    except SchemaError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)


def _register_db_commands() -> None:
    from needcast.db_cli import db_app

    app.add_typer(db_app, name="db")


_register_db_commands()


model_app = typer.Typer(help="The embedding model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("install")
def model_install() -> None:
    """Convert the bundled offline embedding model and export it to int8 ONNX, once (no network)."""
    from text.e5_bundle import ensure_bundled_model
    from text.onnx_encoder import ensure_onnx_model

    settings = get_settings()
    path = ensure_bundled_model(settings.models_dir)
    out.print(f"embedding model ready at {path}")
    out.print(f"ONNX export ready at {ensure_onnx_model(settings.models_dir)}")
