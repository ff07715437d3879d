"""GET /v1/catalogues: the names of services, segments and regions, and the `Names` dependency of other routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.deps import PlannerDep
from api.schemas import AUTH_ERRORS
from forecast.names import Names, NamesCache

__all__ = ["LangQuery", "NamesDep", "names_cache", "router"]

router = APIRouter(prefix="/v1", tags=["catalogues"], responses=AUTH_ERRORS)
LangQuery = Annotated[Literal["ru", "en"], Query(description="language of the names")]


def names_cache(request: Request) -> NamesCache:
    """This process's catalogue cache, made on first use."""
    cache = getattr(request.app.state, "names_cache", None)
    if cache is None:
        settings = getattr(request.app.state, "settings", None)
        cache = NamesCache(request.app.state.engine, ttl_s=getattr(settings, "reload_interval_s", 10.0))
        request.app.state.names_cache = cache
    return cache


def _names(request: Request) -> Names:
    return names_cache(request).get()


NamesDep = Annotated[Names, Depends(_names)]


class ServiceName(BaseModel):
    service: str
    name: str


class SegmentName(BaseModel):
    segment: str
    name: str
    name_ru: str | None
    name_en: str | None


class RegionName(BaseModel):
    region: str
    name: str
    name_ru: str | None
    name_en: str | None
    parent: str | None


class CataloguesResponse(BaseModel):
    services: list[ServiceName]
    segments: list[SegmentName]
    regions: list[RegionName]

    model_config = {"json_schema_extra": {"examples": [{
        "services": [{"service": "passport_issue", "name": "Выдача паспорта РФ"}],
        "segments": [{"segment": "pensioners", "name": "Пенсионеры", "name_ru": "Пенсионеры",
                      "name_en": "Pensioners"}],
        "regions": [{"region": "center", "name": "Центральный округ", "name_ru": "Центральный округ",
                     "name_en": "Central district", "parent": None}],
    }]}}


@router.get("/catalogues", response_model=CataloguesResponse)
def get_catalogues(_: PlannerDep, names: NamesDep, lang: LangQuery = "ru") -> dict:
    """Every catalogued service, segment and region with its name in `lang` (codes without a name are absent)."""
    return {"services": [{"service": r["service"], "name": r["name"]} for r in names.catalogue("service", lang)],
            "segments": names.catalogue("segment", lang), "regions": names.catalogue("region", lang)}
