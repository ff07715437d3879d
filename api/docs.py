"""`/docs` and `/redoc` from files bundled in a package (fastapi-offline), under a strict CSP: no CDN.

FastAPI's default pages load Swagger UI and ReDoc from jsDelivr, which fails on a closed network and
runs third-party scripts. The same pages are built here with local asset URLs; the one inline script
Swagger UI needs is allowed by its hash, not by `unsafe-inline`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = "/docs-assets"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    body = page.body.decode()
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in _SCRIPT.findall(body))
    # ReDoc starts a worker from a blob and both UIs use inline styles.
    csp = (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
           "base-uri 'none'; form-action 'none'")
    return HTMLResponse(body, headers={"Content-Security-Policy": csp})


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` with local assets; create the app with `docs_url=None, redoc_url=None`."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    router = APIRouter(include_in_schema=False)
    title = app.title

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        return _with_csp(get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{title} API", swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon.png"))

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return _with_csp(get_redoc_html(
            openapi_url=app.openapi_url, title=f"{title} API", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False))

    app.include_router(router)
