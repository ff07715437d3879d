"""Shared dependencies of the routes, as `Annotated` aliases each route states in its signature.

They are `async` because they only read app state: a plain `def` dependency costs a trip through the thread pool
on every request. The one that may touch the database (a created key) sends that lookup to a thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.keys import Role, env_role, stored_role
from forecast.live import LiveModels
from needcast.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_live(request: Request) -> LiveModels:
    return request.app.state.live


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
LiveDep = Annotated[LiveModels, Depends(get_live)]


async def current_role(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> Role:
    """The caller's role from `Authorization: Bearer KEY` or `X-API-Key: KEY`; 401 when missing or wrong."""
    key = bearer.credentials if bearer else header
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key",
                            headers={"WWW-Authenticate": "Bearer"})
    role = env_role(request.app.state.env_keys, key) or await run_in_threadpool(
        stored_role, request.app.state.engine, key)
    if role is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return role


def require(role: Role):
    """A dependency that lets `role` and `admin` through and answers 403 to other roles."""

    async def check(caller: Annotated[Role, Depends(current_role)]) -> Role:
        if caller not in (role, Role.admin):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs the {role.value} role")
        return caller

    return check


PlannerDep = Annotated[Role, Depends(require(Role.planner))]
PortalDep = Annotated[Role, Depends(require(Role.portal))]
IngestDep = Annotated[Role, Depends(require(Role.ingest))]
AdminDep = Annotated[Role, Depends(require(Role.admin))]


async def served(live: LiveDep):
    """The live forecasts, or 503 while no champion is loaded."""
    if live.forecasts is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no champion model loaded yet: train first")
    return live.forecasts
