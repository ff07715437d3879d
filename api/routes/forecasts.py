"""GET /v1/forecasts: served demand forecasts with intervals, as JSON or CSV, answered from memory."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.answers import Answer, AnswerCache
from api.deps import PlannerDep, served
from api.schemas import AUTH_ERRORS, NO_CHAMPION, ForecastResponse, error
from forecast.aggregate import aggregate as sum_over
from forecast.served import ServedForecasts

router = APIRouter(prefix="/v1", tags=["forecasts"], responses=AUTH_ERRORS)
ServedDep = Annotated[ServedForecasts, Depends(served)]
CSV_HEADERS = {"Content-Disposition": 'attachment; filename="forecast.csv"'}


def _encode(forecasts: ServedForecasts, service: str | None, segment: str | None, region: str | None,
            horizon: int | None, format: str, aggregate: bool) -> Answer:
    rows = forecasts.query(service, segment, region, horizon)
    if aggregate:
        given = [k for k, v in (("service", service), ("segment", segment), ("region", region)) if v is not None]
        rows = sum_over(rows, keep=given)
    if format == "csv":
        out = rows.assign(date=rows["date"].dt.strftime("%Y-%m-%d"))
        return Answer(out.to_csv(index=False, float_format="%.3f").encode(), "text/csv; charset=utf-8")
    meta = forecasts.meta
    body = ForecastResponse.model_validate({
        "model": meta["model"], "freq": meta["freq"], "data_until": meta["data_until"],
        "items": rows.assign(date=rows["date"].dt.date).to_dict("records"),
    })
    return Answer(body.model_dump_json().encode(), "application/json")


@router.get(
    "/forecasts",
    response_model=ForecastResponse,
    responses={200: {"content": {"text/csv": {"example": "service,segment,region,date,p10,p50,p90,mean\n"}}},
               404: error("a filter matches no series", "service: no series with service='passport'"),
               **NO_CHAMPION},
)
async def get_forecasts(
    _: PlannerDep,
    forecasts: ServedDep,
    request: Request,
    service: Annotated[str | None, Query(max_length=200, examples=["passport_issue"])] = None,
    segment: Annotated[str | None, Query(max_length=200, examples=["pensioners"])] = None,
    region: Annotated[str | None, Query(max_length=200, examples=["center"])] = None,
    horizon: Annotated[int | None, Query(ge=1, le=366, description="periods ahead (default: all served)")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    aggregate: Annotated[bool, Query(description="sum over every key not given as a filter (shown as `*`)")]
    = False,
) -> Response:
    """Forecast p10/p50/p90 per bottom-level series and period; every filter is optional.

    With `aggregate=true` the series are summed over the keys left out (bottom-up: the mean adds up exactly,
    intervals combine as independent errors), so a segment's total over regions agrees with its parts.
    Answers are encoded once per snapshot and query, then served from memory.
    """
    for field, value in (("service", service), ("segment", segment), ("region", region)):
        if value is not None and value not in forecasts.key_values[field]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{field}: no series with {field}={value!r}")
    cache: AnswerCache = request.app.state.forecast_answers
    key = (service, segment, region, horizon, format, aggregate)
    answer = cache.get(forecasts, key)
    if answer is None:
        answer = await run_in_threadpool(_encode, forecasts, service, segment, region, horizon, format, aggregate)
        cache.put(forecasts, key, answer)
    return Response(answer.body, media_type=answer.media_type, headers=CSV_HEADERS if format == "csv" else None)
