"""Who made a change, for audit trails: the caller's role and a short id of its key (never the key)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Request

from api.deps import PlannerDep

__all__ = ["CallerDep", "caller"]


async def caller(request: Request, role: PlannerDep) -> str:
    """`role:keyid`, where keyid is the first 8 hex digits of the key's sha256 (a planner key's own id)."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    return f"{role.value}:{hashlib.sha256(key.encode()).hexdigest()[:8]}"


CallerDep = Annotated[str, Depends(caller)]
"""A planner (or admin) caller's audit id; 401/403 like `PlannerDep`."""
