"""GET /v1/forecasts: served demand forecasts with intervals, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response

from api.deps import PlannerDep, served
from api.schemas import ForecastResponse
from forecast.aggregate import aggregate as sum_over
from forecast.served import ServedForecasts

router = APIRouter(prefix="/v1", tags=["forecasts"])
ServedDep = Annotated[ServedForecasts, Depends(served)]


@router.get(
    "/forecasts",
    response_model=ForecastResponse,
    responses={200: {"content": {"text/csv": {"example": "service,segment,region,date,p10,p50,p90,mean\n"}}},
               404: {"description": "a filter matches no series"}},
)
def get_forecasts(
    _: PlannerDep,
    forecasts: ServedDep,
    service: Annotated[str | None, Query(max_length=200, examples=["passport_issue"])] = None,
    segment: Annotated[str | None, Query(max_length=200, examples=["pensioners"])] = None,
    region: Annotated[str | None, Query(max_length=200, examples=["center"])] = None,
    horizon: Annotated[int | None, Query(ge=1, le=366, description="periods ahead (default: all served)")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    aggregate: Annotated[bool, Query(description="sum over every key not given as a filter (shown as `*`)")]
    = False,
):
    """Forecast p10/p50/p90 per bottom-level series and period; every filter is optional.

    With `aggregate=true` the series are summed over the keys left out (bottom-up: the mean adds up exactly,
    intervals combine as independent errors), so a segment's total over regions agrees with its parts.
    """
    table = forecasts.table
    for field, value in (("service", service), ("segment", segment), ("region", region)):
        if value is not None and not (table[field] == value).any():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{field}: no series with {field}={value!r}")
    rows = forecasts.query(service, segment, region, horizon)
    if aggregate:
        given = [k for k, v in (("service", service), ("segment", segment), ("region", region)) if v is not None]
        rows = sum_over(rows, keep=given)
    if format == "csv":
        out = rows.assign(date=rows["date"].dt.strftime("%Y-%m-%d"))
        return Response(out.to_csv(index=False, float_format="%.3f"), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="forecast.csv"'})
    meta = forecasts.meta
    return {
        "model": meta["model"],
        "freq": meta["freq"],
        "data_until": meta["data_until"],
        "items": rows.assign(date=rows["date"].dt.date).to_dict("records"),
    }
