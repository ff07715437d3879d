"""GET /v1/forecasts and /v1/history: served forecasts with intervals (JSON or CSV), and what to judge them by."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.answers import Answer, AnswerCache
from api.champion import champion_forecaster
from api.deps import EngineDep, PlannerDep, served
from api.formula_guard import guard_frame
from api.routes.catalogues import LangQuery, NamesDep, names_cache
from api.schemas import AUTH_ERRORS, NO_CHAMPION, ForecastResponse, SeriesKeyItem, error
from api.spreadsheets import DATE_FORMAT, FORECAST_COLUMNS, XLSX_MEDIA, SheetColumn, to_xlsx
from features.series import series_frame, to_period_start
from forecast.aggregate import aggregate as sum_over
from forecast.explain import forecast_drivers
from forecast.history import BacktestCache, history_table, period_start, recent_actuals
from forecast.names import KEYS, Names
from forecast.periods import PeriodError, check_period, to_periods
from forecast.scenarios import ChampionForecaster, selection_inputs
from forecast.served import ServedForecasts

router = APIRouter(prefix="/v1", tags=["forecasts"], responses=AUTH_ERRORS)
ServedDep = Annotated[ServedForecasts, Depends(served)]
CSV_HEADERS = {"Content-Disposition": 'attachment; filename="forecast.csv"'}
XLSX_HEADERS = {"Content-Disposition": 'attachment; filename="forecast.xlsx"'}
PERIOD_COLUMNS = (
    *(SheetColumn("date", "Начало периода", DATE_FORMAT, 14) if c.column == "date" else c for c in FORECAST_COLUMNS),
    SheetColumn("period_end", "Конец периода", DATE_FORMAT, 14),
    SheetColumn("days", "Дней в прогнозе", "0", 10),
    SheetColumn("partial", "Неполный период", width=10),
)
Period = Literal["day", "week", "month", "quarter"]


def with_names(rows, names: Names, lang: str):
    """`rows` with `<key>_name` after the three codes (`*` of an aggregate stays `*`)."""
    out = rows.copy()
    for key in KEYS:
        lookup = {code: code if code == "*" else names.name(key, code, lang) for code in out[key].unique()}
        out.insert(out.columns.get_loc("region") + 1 + KEYS.index(key), f"{key}_name", out[key].map(lookup))
    return out


def _drivers(engine, holder: ChampionForecaster, forecasts: ServedForecasts, service: str | None,
             segment: str | None, region: str | None) -> pd.DataFrame:
    """Per series and period, the served model's contributions by feature family (forecast.explain)."""
    forecaster = holder.get(forecasts.version)
    usage, feedback, events = selection_inputs(engine, forecaster, service, segment, region)
    series = series_frame(usage, forecaster.config.freq, data_until=usage["date"].max())
    return forecast_drivers(forecaster, series, feedback, events)


def _with_drivers(rows: pd.DataFrame, drivers: pd.DataFrame, keep: list[str] | None,
                  period_code: str | None = None) -> pd.DataFrame:
    """`rows` with a `drivers` dict per item ({family: contribution}, `baseline` included), summed like `rows`."""
    parts = [c for c in drivers.columns if c not in (*KEYS, "date", "mean")]
    if period_code is not None:  # contributions add up, so a period's are the sums of its days'
        drivers = drivers.assign(date=to_period_start(drivers["date"], period_code))
        drivers = drivers.groupby([*KEYS, "date"], as_index=False)[parts].sum()
    if keep is not None:
        grouped = drivers.groupby([*keep, "date"], as_index=False)[parts].sum()
        drivers = grouped.assign(**{k: "*" for k in KEYS if k not in keep})
    merged = rows.merge(drivers[[*KEYS, "date", *parts]], on=[*KEYS, "date"], how="left")
    values = merged[parts].round(3).to_dict("records")
    return rows.assign(drivers=[None if any(pd.isna(v) for v in d.values()) else d for d in values])


def _encode(forecasts: ServedForecasts, service: str | None, segment: str | None, region: str | None,
            horizon: int | None, format: str, aggregate: bool, names: Names, lang: str,
            drivers: pd.DataFrame | None = None, period: str | None = None) -> Answer:
    rows = forecasts.query(service, segment, region, horizon)
    keep = None
    if aggregate:
        keep = [k for k, v in (("service", service), ("segment", segment), ("region", region)) if v is not None]
        rows = sum_over(rows, keep=keep, dependence=forecasts.dependence)
    period_code = None
    if period is not None:
        period_code = check_period(period, forecasts.meta["freq"])
        summed = [k for k in KEYS if k not in keep] if keep is not None else []
        rows = to_periods(rows, period, forecasts.meta["freq"], forecasts.period_dependence, summed)
        rows = rows.drop(columns="period_days")
    if format == "xlsx":
        sheet = with_names(rows, names, lang)
        note = (f"Модель {forecasts.meta['model']['name']} v{forecasts.version}; данные по "
                f"{forecasts.meta['data_until']}; p10–p90: интервал 80 %.")
        if period is not None:
            sheet["partial"] = sheet["partial"].map({True: "да", False: "нет"})
            note += " Суммы по периодам; неполный период: прогноз покрывает лишь часть его дней."
        return Answer(to_xlsx(sheet, PERIOD_COLUMNS if period else FORECAST_COLUMNS, "Прогноз", note), XLSX_MEDIA)
    if drivers is not None:
        rows = _with_drivers(rows, drivers, keep, period_code)
    dated = {"date": rows["date"].dt.strftime("%Y-%m-%d")}
    if period is not None:
        dated["period_end"] = rows["period_end"].dt.strftime("%Y-%m-%d")
    if format == "csv":
        out = guard_frame(rows.assign(**dated))  # no formula injection
        return Answer(out.to_csv(index=False, float_format="%.3f").encode(), "text/csv; charset=utf-8")
    meta = forecasts.meta
    extra = {} if period is None else {"period": period}
    body = ForecastResponse.model_validate({
        "model": meta["model"], "freq": meta["freq"], "data_until": meta["data_until"], **extra,
        "items": with_names(rows, names, lang).assign(**dated).to_dict("records"),
    })
    return Answer(body.model_dump_json(exclude_unset=True).encode(), "application/json")  # `drivers` if asked


@router.get(
    "/forecasts",
    response_model=ForecastResponse,
    responses={200: {"content": {"text/csv": {"example": "service,segment,region,date,p10,p50,p90,mean\n"},
                                 XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}}}},
               404: error("a filter matches no series", "service: no series with service='passport'"),
               422: error("a period the served model cannot be summed to",
                          "period: the served model forecasts by week: period can be week"),
               **NO_CHAMPION},
)
async def get_forecasts(
    _: PlannerDep,
    forecasts: ServedDep,
    request: Request,
    names: NamesDep,
    service: Annotated[str | None, Query(max_length=200, examples=["passport_issue"])] = None,
    segment: Annotated[str | None, Query(max_length=200, examples=["pensioners"])] = None,
    region: Annotated[str | None, Query(max_length=200, examples=["center"])] = None,
    horizon: Annotated[int | None, Query(ge=1, le=366, description="periods ahead (default: all served)")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
    aggregate: Annotated[bool, Query(description="sum over every key not given as a filter (shown as `*`)")]
    = False,
    lang: LangQuery = "ru",
    explain: Annotated[bool, Query(description="add each item's `drivers`: contribution per feature family "
                                               "(JSON only; computed with the champion, give a segment)")] = False,
    period: Annotated[Period | None, Query(
        description="sum the forecast to weeks (ISO), months or quarters, with intervals calibrated on the "
                    "model's backtest sums; items then carry `period_end`, `days` and `partial` (a period the "
                    "forecast covers only in part, at either edge). Default: the model's own periods")] = None,
) -> Response:
    """Forecast p10/p50/p90 per bottom-level series and period; every filter is optional.

    With `aggregate=true` the series are summed over the keys left out (bottom-up: the mean adds up exactly,
    intervals combine as independent errors), so a segment's total over regions agrees with its parts.
    Filters take codes or names (either language). Items carry `service_name`, `segment_name` and `region_name`
    in `lang` (the code where the catalogue has no name).
    With `period=week|month|quarter` each item is one period's sum (its `date` the period's first day): the mean
    is the sum of the days' means; the band keeps the days' dependence as calibrated on the backtest. A period
    the forecast covers only in part is kept with `partial: true` and the `days` it sums.
    Answers are encoded once per snapshot and query, then served from memory.
    """
    service, segment, region = (names.code_of(k, v) for k, v in zip(KEYS, (service, segment, region), strict=True))
    for field, value in (("service", service), ("segment", segment), ("region", region)):
        if value is not None and value not in forecasts.key_values[field]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{field}: no series with {field}={value!r}")
    if period is not None:
        try:
            check_period(period, forecasts.meta["freq"])
        except PeriodError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"period: {exc}") from None
    explain = explain and format == "json"
    cache: AnswerCache = request.app.state.forecast_answers
    key = (service, segment, region, horizon, format, aggregate, lang, names_cache(request).version, explain,
           period)
    answer = cache.get(forecasts, key)
    if answer is None:
        drivers = None
        if explain:
            drivers_cache = getattr(request.app.state, "forecast_drivers", None)
            if drivers_cache is None:
                drivers_cache = request.app.state.forecast_drivers = {}
            drivers_key = (forecasts.version, forecasts.meta.get("refreshed_at"), service, segment, region)
            drivers = drivers_cache.get(drivers_key)
            if drivers is None:
                try:
                    drivers = await run_in_threadpool(_drivers, request.app.state.engine,
                                                      champion_forecaster(request), forecasts, service, segment,
                                                      region)
                except LookupError as exc:
                    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
                if len(drivers_cache) >= 32:  # a few selections' worth; the answers themselves are cached too
                    drivers_cache.pop(next(iter(drivers_cache)))
                drivers_cache[drivers_key] = drivers
        answer = await run_in_threadpool(_encode, forecasts, service, segment, region, horizon, format, aggregate,
                                         names, lang, drivers, period)
        cache.put(forecasts, key, answer)
    headers = {"csv": CSV_HEADERS, "xlsx": XLSX_HEADERS}.get(format)
    return Response(answer.body, media_type=answer.media_type, headers=headers)


class HistoryItem(SeriesKeyItem):
    date: dt.date
    actual: float
    backtest_p10: float | None = None
    backtest_p50: float | None = None
    backtest_p90: float | None = None


class BacktestWindow(BaseModel):
    cutoff: dt.date = Field(description="the last period the window's forecast could see")
    start: dt.date
    end: dt.date


class HistoryResponse(BaseModel):
    model_version: str
    freq: str
    data_until: dt.date
    backtest_windows: list[BacktestWindow]
    items: list[HistoryItem]

    model_config = {"protected_namespaces": (), "json_schema_extra": {"examples": [{
        "model_version": "3", "freq": "D", "data_until": "2026-10-31",
        "backtest_windows": [{"cutoff": "2026-10-03", "start": "2026-10-04", "end": "2026-10-31"}],
        "items": [{"service": "passport_issue", "segment": "youth", "region": "center",
                   "service_name": "Выдача паспорта РФ", "segment_name": "Молодёжь",
                   "region_name": "Центральный округ", "date": "2026-10-20", "actual": 21.0,
                   "backtest_p10": 13.0, "backtest_p50": 18.2, "backtest_p90": 24.9}],
    }]}}


def backtests(request: Request) -> BacktestCache:
    holder = getattr(request.app.state, "backtests", None)
    if holder is None:
        holder = BacktestCache(request.app.state.live.client)
        request.app.state.backtests = holder
    return holder


def _history(engine, cache: BacktestCache, forecasts: ServedForecasts, filters: dict, weeks: int,
             aggregate: bool, names: Names, lang: str) -> dict:
    until = pd.Timestamp(forecasts.meta["data_until"])
    since = period_start(pd.Series([until - pd.Timedelta(days=7 * weeks - 1)]), forecasts.meta["freq"]).iloc[0]
    actuals = recent_actuals(engine, since.date(), **filters)
    backtest = cache.get(forecasts.version)
    windows = [{"cutoff": c.date(), "start": part["date"].min().date(), "end": part["date"].max().date()}
               for c, part in backtest.groupby("cutoff")]
    for key, value in filters.items():
        if value is not None:
            backtest = backtest[backtest[key] == value]
    keep = [k for k, v in filters.items() if v is not None] if aggregate else None
    table = history_table(actuals, backtest, forecasts.meta["freq"], since, keep)
    table = with_names(table.round(3), names, lang).assign(date=table["date"].dt.date)
    items = table.astype(object).where(table.notna(), None).to_dict("records")
    return {"model_version": forecasts.version, "freq": forecasts.meta["freq"], "data_until": until.date(),
            "backtest_windows": windows, "items": items}


@router.get("/history", response_model=HistoryResponse,
            responses={404: error("a filter matches no series", "segment: no series with segment='x'"),
                       **NO_CHAMPION})
async def get_history(
    _: PlannerDep,
    forecasts: ServedDep,
    engine: EngineDep,
    request: Request,
    names: NamesDep,
    service: Annotated[str | None, Query(max_length=200)] = None,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    region: Annotated[str | None, Query(max_length=200)] = None,
    weeks: Annotated[int, Query(ge=1, le=156, description="weeks of actuals before the forecast")] = 12,
    aggregate: Annotated[bool, Query(description="sum over every key not given as a filter (shown as `*`)")]
    = False,
    lang: LangQuery = "ru",
) -> dict:
    """Actual demand of the last `weeks` weeks before the forecast, with the backtest of the served model.

    Where one of the backtest's held-out windows covers a period, `backtest_p10/p50/p90` is what the model
    forecast for it without seeing it; `backtest_windows` lists the windows. Filters as in /v1/forecasts.
    """
    filters = dict(zip(KEYS, (names.code_of(k, v) for k, v in zip(KEYS, (service, segment, region),
                                                                      strict=True)), strict=True))
    for field, value in filters.items():
        if value is not None and value not in forecasts.key_values[field]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{field}: no series with {field}={value!r}")
    return await run_in_threadpool(_history, engine, backtests(request), forecasts, filters, weeks, aggregate,
                                   names, lang)
