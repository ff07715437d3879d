"""GET / and /static/...: the planners' dashboard page and everything it loads, served by the app itself.

No CDN and no web fonts: the page works on a closed network. The page itself needs no key; the data it
shows comes from the keyed `/v1` routes, called from the browser with the key the planner signs in with.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

import holidays
from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

__all__ = ["router"]

HERE = Path(__file__).resolve().parent
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
# Everything comes from this origin; no inline script or style, so injected markup could not run.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def dashboard() -> FileResponse:
    """The dashboard page (no key needed: it asks for one)."""
    return FileResponse(HERE / "index.html", media_type="text/html; charset=utf-8",
                        headers={**HEADERS, "Content-Security-Policy": CSP})


@router.get("/static/holidays/{year}.json")
def holiday_calendar(request: Request, year: Annotated[int, PathParam(ge=1992, le=2100)]) -> JSONResponse:
    """Public holidays and transferred days off of one year: {"YYYY-MM-DD": {"ru": name, "en": name}}."""
    return JSONResponse(_holidays(year, request.app.state.settings.country), headers={"Cache-Control": "max-age=86400"})


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    """The page's script and style sheet."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return FileResponse(HERE / name, media_type=media, headers=HEADERS)


@lru_cache(maxsize=16)
def _holidays(year: int, country: str) -> dict[str, dict[str, str]]:
    names = {lang: holidays.country_holidays(country, years=year, language=lang) for lang in ("ru", "en_US")}
    return {day.isoformat(): {"ru": names["ru"][day], "en": names["en_US"][day]} for day in sorted(names["ru"])}
