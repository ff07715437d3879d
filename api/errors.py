"""Error answers and error logs that never carry a request body: the exception type and the field path only.

FastAPI's own 422 answer echoes each bad `input`; a body of `[NaN]` then cannot be encoded (a 500 and a
reset connection), and a body with a name or a phone would travel back and could reach a log. Here the
answer keeps `loc`, `msg` and `type`; the log of an unexpected error keeps the exception type, the route
and the place in the code, never the message (it may quote the input).
"""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["install_error_handlers", "where"]

log = logging.getLogger("api.errors")


def _field(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc)


def where(exc: BaseException) -> str:
    """`file:line in function` of the innermost frame: where it broke, without a value from the request."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()]
    log.info("rejected request to %s: %s", request.url.path, ", ".join(_field(e["loc"]) for e in errors))
    return JSONResponse(jsonable_encoder({"detail": errors}), status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s %s at %s", type(exc).__name__, request.method, request.url.path, where(exc))
    return JSONResponse({"detail": "internal error"}, status.HTTP_500_INTERNAL_SERVER_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    """422 without echoed inputs, 500 logged as type and place only."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
